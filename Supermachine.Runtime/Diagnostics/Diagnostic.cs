using System.Globalization;
using System.Resources;

namespace Supermachine.Diagnostics;

/// <summary>
/// Reads coded messages from the one resource table (<c>Strings.resx</c>), the way the .NET SDK
/// containers code does: the table owns the words, and <see cref="Errors"/> and
/// <see cref="Warnings"/> give each code a typed accessor, so no caller names a code as a string.
/// </summary>
internal static class Diagnostic
{
    private static readonly ResourceManager Table =
        new("Supermachine.Diagnostics.Strings", typeof(Diagnostic).Assembly);

    /// <summary>The formatted message for <paramref name="code"/>, without the code prefix.</summary>
    public static string Message(string code, params object?[] args)
    {
        string? format = Table.GetString(code, CultureInfo.CurrentUICulture);
        if (format is null)
        {
            throw new InvalidOperationException($"Diagnostic code {code} is missing from Strings.resx.");
        }
        return args.Length == 0 ? format : string.Format(CultureInfo.CurrentCulture, format, args);
    }

    /// <summary>An exception carrying <paramref name="code"/>, its formatted message and its cause.</summary>
    public static SupermachineException Create(string code, Exception? cause, params object?[] args) =>
        new(code, Message(code, args), cause);

    /// <summary>"SM####: message", for warnings that are logged rather than thrown.</summary>
    public static string Format(string code, params object?[] args) => $"{code}: {Message(code, args)}";
}
