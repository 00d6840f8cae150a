namespace Supermachine.Diagnostics;

/// <summary>The ranges of the diagnostics table: what kind of thing failed.</summary>
internal enum DiagnosticArea
{
    Unknown,
    Registry,     // SM1xxx
    ImageInput,   // SM20xx
    Squashfs,     // SM21xx
    Dockerfile,   // SM22xx
    ProjectInput, // SM23xx
    Guest,        // SM30xx
    Engine,       // SM31xx
    Snapshot,     // SM32xx
    Warning,      // SM4xxx
    Tool,         // SM9xxx
}

internal static class DiagnosticAreas
{
    public static DiagnosticArea Of(string code) =>
        code.Length != 6 || !code.StartsWith("SM", StringComparison.Ordinal) ? DiagnosticArea.Unknown : code[2] switch
        {
            '1' => DiagnosticArea.Registry,
            '2' => code[3] switch { '0' => DiagnosticArea.ImageInput, '1' => DiagnosticArea.Squashfs, '2' => DiagnosticArea.Dockerfile, '3' => DiagnosticArea.ProjectInput, _ => DiagnosticArea.Unknown },
            '3' => code[3] switch { '0' => DiagnosticArea.Guest, '1' => DiagnosticArea.Engine, '2' => DiagnosticArea.Snapshot, _ => DiagnosticArea.Unknown },
            '4' => DiagnosticArea.Warning,
            '9' => DiagnosticArea.Tool,
            _ => DiagnosticArea.Unknown,
        };
}
