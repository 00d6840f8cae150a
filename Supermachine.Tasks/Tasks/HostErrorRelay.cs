using Supermachine.Tasks.Cli;

namespace Supermachine.Tasks;

/// <summary>
/// Turns a host's stderr into MSBuild messages, keeping a multi-line error whole: the canonical
/// "supermachine : error SM####: ..." line and the continuation lines after it (a workload's log
/// tail, <see cref="HostOutput.ContinuationPrefix"/>) become one error. Relayed line by line,
/// MSBuild showed the first line as the error and dropped the rest from the summary (and below
/// normal verbosity from the output), so "Its log ends with:" ended in nothing.
/// </summary>
internal sealed class HostErrorRelay(BakeMicroVmImages task)
{
    private const string ErrorPrefix = "supermachine : error ";
    private readonly object _gate = new();
    private string? _code;
    private System.Text.StringBuilder? _text;

    public void Line(string? line)
    {
        if (line is null)
        {
            return;
        }
        lock (_gate)
        {
            if (line.StartsWith(HostOutput.ContinuationPrefix, StringComparison.Ordinal) && _text is not null)
            {
                _text.Append('\n').Append(line.AsSpan(HostOutput.ContinuationPrefix.Length));
                return;
            }
            FlushLocked();
            int colon = line.StartsWith(ErrorPrefix, StringComparison.Ordinal) ? line.IndexOf(": ", ErrorPrefix.Length, StringComparison.Ordinal) : -1;
            if (colon > ErrorPrefix.Length)
            {
                _code = line[ErrorPrefix.Length..colon];
                _text = new System.Text.StringBuilder(line[(colon + 2)..]);
                return;
            }
        }
        task.Relay(line);
    }

    public void Flush()
    {
        lock (_gate)
        {
            FlushLocked();
        }
    }

    private void FlushLocked()
    {
        if (_text is not null)
        {
            task.LogHostError(_code!, _text.ToString());
            _code = null;
            _text = null;
        }
    }
}
