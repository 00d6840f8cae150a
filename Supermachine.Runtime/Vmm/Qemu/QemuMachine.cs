using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using Supermachine.Diagnostics;

namespace Supermachine.Vmm.Qemu;

/// <summary>
/// One running QEMU: its process (under owner-watch), its QMP connection, its private runtime
/// directory. Created by <see cref="QemuBackend"/> for a cold boot or a restore.
/// </summary>
internal sealed class QemuMachine : IVirtualMachine
{
    private const int MaxStderrChars = 16 * 1024;

    private readonly Process _process;
    private readonly QemuLaunch _launch;
    private readonly bool _ownsRuntimeDirectory;
    private readonly StringBuilder _stderr = new();
    private readonly Task<int> _exited;
    private readonly SemaphoreSlim _stopLock = new(1, 1);
    private readonly List<(string Step, TimeSpan At)> _timings = [];
    private readonly Network.PasstNat? _nat;
    private QmpClient? _qmp;
    private bool _stopped;

    internal QemuMachine(Process process, QemuLaunch launch, AcceleratorChoice accelerator, string engineVersion, bool ownsRuntimeDirectory, Network.PasstNat? nat = null)
    {
        _nat = nat;
        _process = process;
        _launch = launch;
        _ownsRuntimeDirectory = ownsRuntimeDirectory;
        AcceleratorChoice = accelerator;
        EngineVersion = engineVersion;
        _ = PumpAsync(process.StandardOutput);
        _ = PumpAsync(process.StandardError);
        _exited = WaitForProcessAsync();
    }

    public Accelerator Accelerator => AcceleratorChoice.Accelerator;

    public string AcceleratorReason => AcceleratorChoice.Reason;

    public AcceleratorChoice AcceleratorChoice { get; }

    public string CpuModel => _launch.Spec.Architecture.CpuModel(Accelerator);

    /// <summary>QEMU's version, recorded in snapshots.</summary>
    public string EngineVersion { get; }

    /// <summary>The QEMU binary running this VM; its qemu-img sits beside it.</summary>
    internal required string QemuPath { get; init; }

    public string RuntimeDirectory => _launch.RuntimeDirectory;

    public string ConsoleLogPath => _launch.ConsoleLog;

    /// <summary>The process id of the engine (the owner-watch helper when in use, else QEMU).</summary>
    public int ProcessId => _process.Id;

    /// <summary>
    /// Where start-up time went, in order (e.g. "qemu-started", "control-connected", "state-loaded",
    /// "resumed"), each measured from the call that made this machine. For logs and benchmarks.
    /// </summary>
    public IReadOnlyList<(string Step, TimeSpan At)> Timings => _timings;

    internal void Mark(string step, TimeSpan at) => _timings.Add((step, at));

    /// <summary>The QMP connection, for engine-level callers that need more than this class offers.</summary>
    public QmpClient Qmp => _qmp ?? throw new InvalidOperationException("QMP is not connected yet.");

    internal QemuLaunch Launch => _launch;

    /// <summary>What QEMU wrote on stderr so far (bounded), made printable.</summary>
    public string StandardErrorTail
    {
        get
        {
            lock (_stderr)
            {
                return ConsoleLog.Printable(Encoding.UTF8.GetBytes(_stderr.ToString()));
            }
        }
    }

    public bool HasExited => _exited.IsCompleted;

    public string ReadConsoleTail(int maxBytes = 8192) => ConsoleLog.ReadTail(ConsoleLogPath, maxBytes);

    public async Task WaitForConsoleAsync(string marker, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        byte[] needle = Encoding.UTF8.GetBytes(marker);
        var clock = Stopwatch.StartNew();
        long offset = 0;
        byte[] window = [];
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            bool exited = _exited.IsCompleted;
            // Read what is new, keeping only enough of the old bytes to find a marker split across reads.
            try
            {
                using var file = new FileStream(ConsoleLogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
                if (file.Length > offset)
                {
                    file.Position = offset;
                    byte[] fresh = new byte[(int)Math.Min(file.Length - offset, 1 << 20)];
                    file.ReadExactly(fresh);
                    offset += fresh.Length;
                    byte[] combined = [.. window, .. fresh];
                    if (combined.AsSpan().IndexOf(needle) >= 0)
                    {
                        return;
                    }
                    if (ConsoleLog.ShowsPanic(Encoding.UTF8.GetString(combined)))
                    {
                        // Let the panic text finish printing before quoting it.
                        await Task.WhenAny(_exited, Task.Delay(500, cancellationToken)).ConfigureAwait(false);
                        throw DiagnoseFailure($"console output '{marker}'", clock.Elapsed);
                    }
                    int keep = Math.Min(combined.Length, needle.Length + 64);
                    window = combined[^keep..];
                }
            }
            catch (FileNotFoundException)
            {
            }
            if (exited || clock.Elapsed >= timeout)
            {
                throw DiagnoseFailure($"console output '{marker}'", clock.Elapsed);
            }
            await Task.WhenAny(_exited, Task.Delay(20, cancellationToken)).ConfigureAwait(false);
        }
    }

    public SupermachineException DiagnoseFailure(string waitingFor, TimeSpan waited)
    {
        string console = ReadConsoleTail();
        if (ConsoleLog.ShowsPanic(console))
        {
            return Errors.KernelPanicked(waitingFor, console);
        }
        if (_exited.IsCompleted)
        {
            string said = StandardErrorTail;
            return Errors.QemuExited(_exited.Result, waitingFor, said.Length == 0 ? "(nothing)" : said, console.Length == 0 ? "(empty)" : console);
        }
        return Errors.BootTimedOut(waitingFor, waited.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture), console.Length == 0 ? "(empty)" : console);
    }

    public async Task<Stream> ConnectAgentAsync(CancellationToken cancellationToken = default)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        try
        {
            await socket.ConnectAsync(new UnixDomainSocketEndPoint(_launch.AgentSocket), cancellationToken).ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw Errors.AgentChannelUnreachable(_launch.AgentSocket, e.Message, ConsoleLogPath, cause: e);
        }
    }

    public Task<VmSnapshotInfo> SaveSnapshotAsync(string directory, CancellationToken cancellationToken = default) =>
        QemuSnapshot.SaveAsync(this, directory, cancellationToken);

    public async Task PlugAttachmentsAsync(CancellationToken cancellationToken = default)
    {
        IReadOnlyList<VmAttachment> attachments = _launch.Attachments;
        if (attachments.Count > _launch.HotplugSlots)
        {
            throw new InvalidOperationException($"{attachments.Count} attachments for {_launch.HotplugSlots} hot-plug slots.");
        }
        for (int i = 0; i < attachments.Count; i++)
        {
            VmAttachment a = attachments[i];
            string what = $"{(a.Kind == VmAttachmentKind.Disk ? "the volume" : "the host directory")} '{a.HostPath}'";
            var device = new JsonObject
            {
                ["driver"] = a.Kind == VmAttachmentKind.Disk ? "virtio-blk-pci" : "virtio-9p-pci",
                ["id"] = "dev-" + QemuCommandLine.AttachmentId(i),
                ["bus"] = QemuCommandLine.SlotId(i),
            };
            if (a.Kind == VmAttachmentKind.Disk)
            {
                device["drive"] = QemuCommandLine.AttachmentId(i);
                device["serial"] = a.Id;
            }
            else
            {
                device["fsdev"] = QemuCommandLine.AttachmentId(i);
                device["mount_tag"] = a.Id;
            }
            try
            {
                await Qmp.ExecuteAsync("device_add", device, cancellationToken).ConfigureAwait(false);
            }
            catch (QmpException e)
            {
                throw Errors.AttachFailed(what, e.Description, cause: e);
            }
        }
    }

    public async Task ResumeAsync(CancellationToken cancellationToken = default) =>
        await ExecuteAsync("cont", null, "continue the guest", cancellationToken).ConfigureAwait(false);

    public Task<int> WaitForExitAsync(CancellationToken cancellationToken = default) => _exited.WaitAsync(cancellationToken);

    public async Task StopAsync(TimeSpan gracePeriod, CancellationToken cancellationToken = default)
    {
        await _stopLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            if (_stopped)
            {
                return;
            }
            if (!_exited.IsCompleted && _qmp is not null && gracePeriod > TimeSpan.Zero)
            {
                await TryQmpAsync("system_powerdown").ConfigureAwait(false);
                await Task.WhenAny(_exited, Task.Delay(gracePeriod, cancellationToken)).ConfigureAwait(false);
            }
            if (!_exited.IsCompleted && _qmp is not null)
            {
                await TryQmpAsync("quit").ConfigureAwait(false);
                await Task.WhenAny(_exited, Task.Delay(TimeSpan.FromSeconds(3), cancellationToken)).ConfigureAwait(false);
            }
            if (!_exited.IsCompleted)
            {
                KillProcess();
                await _exited.ConfigureAwait(false);
            }
            await CleanUpAsync().ConfigureAwait(false);
            _stopped = true;
        }
        finally
        {
            _stopLock.Release();
        }
    }

    public async Task KillAsync()
    {
        KillProcess();
        await _exited.ConfigureAwait(false);
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _process.Dispose();
    }

    /// <summary>Connects QMP, failing with the reason QEMU gave when it exits first.</summary>
    internal async Task ConnectControlAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            _qmp = await QmpClient.ConnectAsync(_launch.QmpSocket, timeout, () => _exited.IsCompleted, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or System.Text.Json.JsonException)
        {
            if (_exited.IsCompleted || await Task.WhenAny(_exited, Task.Delay(200, CancellationToken.None)).ConfigureAwait(false) == _exited)
            {
                throw DiagnoseFailure("its control socket answered", timeout);
            }
            throw Errors.QmpNotAnswering(_launch.QmpSocket, timeout.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture), StandardErrorTail, cause: e);
        }
    }

    /// <summary>Runs a QMP command, turning a refusal into SM3108 naming <paramref name="purpose"/>.</summary>
    internal async Task<JsonNode?> ExecuteAsync(string command, JsonObject? arguments, string purpose, CancellationToken cancellationToken)
    {
        try
        {
            return await Qmp.ExecuteAsync(command, arguments, cancellationToken).ConfigureAwait(false);
        }
        catch (QmpException e)
        {
            throw Errors.QemuRefused(purpose, e.Description, EngineVersion, cause: e);
        }
        catch (IOException e)
        {
            await Task.WhenAny(_exited, Task.Delay(500, CancellationToken.None)).ConfigureAwait(false);
            throw new IOException($"QEMU went away while asked to {purpose}. {StandardErrorTail}", e);
        }
    }

    private async Task TryQmpAsync(string command)
    {
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            await Qmp.ExecuteAsync(command, null, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is QmpException or IOException or OperationCanceledException or ObjectDisposedException)
        {
            // QEMU may exit before it answers; the exit is what we wait for anyway.
        }
    }

    private void KillProcess()
    {
        ProcessLifetime.OwnerWatch.Kill(_process);
    }

    private async Task CleanUpAsync()
    {
        _nat?.Dispose();
        if (_qmp is not null)
        {
            await _qmp.DisposeAsync().ConfigureAwait(false);
            _qmp = null;
        }
        try
        {
            if (_ownsRuntimeDirectory)
            {
                Directory.Delete(_launch.RuntimeDirectory, recursive: true);
            }
            else
            {
                // Up to their size in the caller's directory; nobody reads them after the VM.
                foreach (string disk in _launch.VolumeFiles.Append(_launch.DiskFile ?? ""))
                {
                    if (disk.Length > 0)
                    {
                        File.Delete(disk);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Best effort: a leftover private temp directory is harmless.
        }
    }

    private async Task<int> WaitForProcessAsync()
    {
        await _process.WaitForExitAsync().ConfigureAwait(false);
        return _process.ExitCode;
    }

    private async Task PumpAsync(StreamReader reader)
    {
        char[] buffer = new char[4096];
        try
        {
            int read;
            while ((read = await reader.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                lock (_stderr)
                {
                    _stderr.Append(buffer, 0, read);
                    if (_stderr.Length > MaxStderrChars)
                    {
                        _stderr.Remove(0, _stderr.Length - MaxStderrChars);
                    }
                }
            }
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException)
        {
        }
    }
}
