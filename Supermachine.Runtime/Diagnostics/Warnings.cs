// One accessor per code of Strings.resx: a code that does not exist, or a wrong number of
// arguments, fails to compile. DiagnosticTableTests checks the table and these agree.
namespace Supermachine.Diagnostics;

/// <summary>The coded warnings, as "SM####: message" lines for a log.</summary>
internal static class Warnings
{
    /// <summary>SM2015: Skipped '{0}' in layer {1} of '{2}': {3}.</summary>
    public static string LayerEntrySkipped(object? path, object? layer, object? image, object? reason) => Diagnostic.Format("SM2015", path, layer, image, reason);

    /// <summary>SM2016: Skipped '{0}' while writing '{1}': {2}.</summary>
    public static string EntrySkippedWhileWriting(object? path, object? root, object? reason) => Diagnostic.Format("SM2016", path, root, reason);

    /// <summary>SM3022: The guest sent more than {0} bytes of workload log, more than its agent keeps; the rest was dropped and the workload's state is unknown. A guest that floods ...</summary>
    public static string WorkloadLogFlooded(object? limit) => Diagnostic.Format("SM3022", limit);

    /// <summary>SM4001: The baked image '{0}' was made by an engine this host cannot restore it with: its {1}. It is baked again here.</summary>
    public static string RebakedForThisEngine(object? name, object? mismatch) => Diagnostic.Format("SM4001", name, mismatch);

    /// <summary>SM4002: The image '{0}' was given the build argument '{1}', which no ARG in its Dockerfile declares, so it has no effect. Remove it from BuildArgs or declare it with...</summary>
    public static string UnusedBuildArg(object? name, object? argument) => Diagnostic.Format("SM4002", name, argument);

    /// <summary>SM4010: The cached bake of '{0}' in '{1}' is damaged ({2}); it was removed and the image is baked again.</summary>
    public static string CachedBakeDamaged(object? fingerprint, object? path, object? problem) => Diagnostic.Format("SM4010", fingerprint, path, problem);

    /// <summary>SM4011: The baked image in '{0}' no longer matches its manifest ({1}); it is replaced.</summary>
    public static string OutputImageDamaged(object? path, object? problem) => Diagnostic.Format("SM4011", path, problem);

    /// <summary>SM4012: Skipped {0} device node(s) and cleared the setuid/setgid bits of {1} file(s) while writing '{2}'; pass --preserve-devices (as root) to keep them.</summary>
    public static string DevicesSkipped(object? devices, object? setIdFiles, object? root) => Diagnostic.Format("SM4012", devices, setIdFiles, root);

    /// <summary>SM4030: The image '{0}' runs as a {1} guest on this {2} host: no hypervisor runs a foreign instruction set, so QEMU emulates every guest instruction (TCG), several t...</summary>
    public static string ForeignGuestEmulated(object? name, object? guest, object? host) => Diagnostic.Format("SM4030", name, guest, host);
}
