using System.Diagnostics;

namespace Supermachine.Vmm;

/// <summary>
/// A 64 KiB firmware per architecture that spins 20 million instructions with 20 000 exits to the
/// VMM (port I/O on x86, MMIO stores to the virt machine's UART on arm64), then powers the machine
/// off. Hardware virtualization finishes in tens of milliseconds (plus QEMU's start-up); emulated
/// or paravirtual KVM takes seconds to minutes, and a hypervisor that does not work at all never
/// gets to the power-off. <see cref="AcceleratorProbe"/> times it.
/// </summary>
internal sealed record ProbeGuest
{
    /// <summary>16-bit real mode at F000:0000 on q35, leaving through isa-debug-exit.</summary>
    public static readonly ProbeGuest X86 = new()
    {
        Arguments = _ => ["-machine", "q35", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"],
        // isa-debug-exit turns the written 0 into exit status (0 << 1) | 1.
        ExitCode = 1,
        Code =
        [
            0x66, 0xB9, 0x20, 0x4E, 0x00, 0x00, // mov ecx, 20000
            0xE6, 0x80,                         // outer: out 0x80, al        (an I/O exit)
            0x66, 0xBA, 0xE8, 0x03, 0x00, 0x00, // mov edx, 1000
            0x66, 0x4A,                         // inner: dec edx
            0x75, 0xFC,                         // jnz inner
            0x66, 0x49,                         // dec ecx
            0x75, 0xF0,                         // jnz outer
            0xB0, 0x00,                         // mov al, 0
            0xE6, 0xF4,                         // out 0xf4, al               (isa-debug-exit)
            0xF4,                               // hlt
            0xEB, 0xFD,                         // jmp hlt
        ],
        // The reset vector at F000:FFF0: jmp far F000:0000.
        Tail = [0xEA, 0x00, 0x00, 0x00, 0xF0],
    };

    /// <summary>
    /// AArch64 at 0 (virt's flash, where -bios goes), leaving through PSCI SYSTEM_OFF over HVC, which
    /// KVM, HVF and TCG all implement for virt; QEMU then exits with 0. Under a hypervisor the CPU
    /// must be the host's (virt's default is a 32-bit Cortex-A15).
    /// </summary>
    public static readonly ProbeGuest Arm64 = new()
    {
        Arguments = accelerator => ["-machine", "virt", "-cpu", accelerator == Accelerator.Tcg ? "cortex-a72" : "host"],
        ExitCode = 0,
        Code =
        [
            0x03, 0x20, 0xA1, 0xD2, // movz x3, #0x0900, lsl #16   (the PL011 UART)
            0x01, 0xC4, 0x89, 0xD2, // movz x1, #20000
            0x7F, 0x38, 0x00, 0xB9, // outer: str wzr, [x3, #0x38]  (UARTIMSC: an MMIO exit)
            0x00, 0x7D, 0x80, 0xD2, // movz x0, #1000
            0x00, 0x04, 0x00, 0xF1, // inner: subs x0, x0, #1
            0xE1, 0xFF, 0xFF, 0x54, // b.ne inner
            0x21, 0x04, 0x00, 0xF1, // subs x1, x1, #1
            0x61, 0xFF, 0xFF, 0x54, // b.ne outer
            0x00, 0x01, 0x80, 0xD2, // movz x0, #0x0008
            0x00, 0x80, 0xB0, 0xF2, // movk x0, #0x8400, lsl #16    (PSCI SYSTEM_OFF)
            0x02, 0x00, 0x00, 0xD4, // hvc #0
            0x7F, 0x20, 0x03, 0xD5, // hang: wfi
            0xFF, 0xFF, 0xFF, 0x17, // b hang
        ],
        Tail = [],
    };

    /// <summary>QEMU's machine (and CPU or device) arguments under an accelerator.</summary>
    public required Func<Accelerator, string[]> Arguments { get; init; }

    /// <summary>QEMU's exit status when the guest got to its power-off.</summary>
    public required int ExitCode { get; init; }

    /// <summary>The code, at the start of the image.</summary>
    public required byte[] Code { get; init; }

    /// <summary>Bytes at the very end of the image (x86's reset vector).</summary>
    public required byte[] Tail { get; init; }

    /// <summary>The 64 KiB firmware image.</summary>
    public byte[] Firmware()
    {
        byte[] image = new byte[64 * 1024];
        Code.CopyTo(image, 0);
        Tail.CopyTo(image, image.Length - 16);
        return image;
    }

    /// <summary>
    /// Runs the probe with <paramref name="accelerator"/>: the wall time from process start to exit,
    /// or null when the guest did not finish within <paramref name="timeout"/> or QEMU refused the accelerator.
    /// </summary>
    public TimeSpan? Run(string qemuPath, Accelerator accelerator, TimeSpan timeout)
    {
        string firmware = Path.Combine(Path.GetTempPath(), $"supermachine-probe-{Environment.ProcessId}-{Guid.NewGuid():N}.bin");
        try
        {
            File.WriteAllBytes(firmware, Firmware());
            var start = new ProcessStartInfo(qemuPath)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            foreach (string arg in (string[])["-nodefaults", "-no-user-config", "-display", "none", "-accel", AcceleratorProbe.QemuName(accelerator), "-m", "16", "-bios", firmware, .. Arguments(accelerator)])
            {
                start.ArgumentList.Add(arg);
            }
            var clock = Stopwatch.StartNew();
            using Process process = Process.Start(start)!;
            _ = process.StandardOutput.ReadToEndAsync();
            _ = process.StandardError.ReadToEndAsync();
            if (!process.WaitForExit(timeout))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                return null;
            }
            clock.Stop();
            return process.ExitCode == ExitCode ? clock.Elapsed : null;
        }
        catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            return null;
        }
        finally
        {
            File.Delete(firmware);
        }
    }
}
