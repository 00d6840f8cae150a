using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Guest;
using Supermachine.Oci.Manifests;

namespace Supermachine.Bake;

/// <summary>
/// Turns an image's config plus the request's overrides into the process the agent starts, the
/// way `docker run [--entrypoint E] [--user U] [--workdir W] [--hostname H] IMAGE [COMMAND]` does:
/// a Command replaces Cmd and keeps Entrypoint; an Entrypoint replaces the image's and drops its
/// Cmd; Env entries are added to the image's, later ones winning; HOSTNAME is the hostname.
/// </summary>
internal static class WorkloadResolver
{
    public static WorkloadSpec Resolve(ImageConfig config, MicroVmImageRequest request)
    {
        IReadOnlyList<string> entrypoint = request.Entrypoint is { } e ? SplitCommand(e, request.Reference, "Entrypoint") : config.Entrypoint ?? [];
        IReadOnlyList<string> cmd = request.Command is { } command ? SplitCommand(command, request.Reference)
            : request.Entrypoint is not null ? []
            : config.Cmd ?? [];
        var argv = new List<string>(entrypoint);
        argv.AddRange(cmd);
        string hostname = request.Hostname ?? MicroVmImageRequest.DefaultHostname(request.Name);

        var env = new List<string>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        void Set(string key, string value)
        {
            string entry = key + "=" + value;
            if (index.TryGetValue(key, out int i))
            {
                env[i] = entry;
            }
            else
            {
                index[key] = env.Count;
                env.Add(entry);
            }
        }
        foreach (string entry in config.Env ?? [])
        {
            int eq = entry.IndexOf('=');
            Set(eq < 0 ? entry : entry[..eq], eq < 0 ? "" : entry[(eq + 1)..]);
        }
        if (!index.ContainsKey("PATH"))
        {
            Set("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
        }
        Set("HOSTNAME", hostname);
        foreach (var (key, value) in request.Environment)
        {
            Set(key, value);
        }

        return new WorkloadSpec
        {
            Arguments = argv,
            Environment = env,
            WorkingDirectory = request.WorkingDir ?? (string.IsNullOrEmpty(config.WorkingDir) ? "/" : config.WorkingDir),
            User = request.User ?? (string.IsNullOrEmpty(config.User) ? null : config.User),
            Hostname = hostname,
            ShmMiB = request.ShmMiB ?? 64,
        };
    }

    /// <summary>The image's STOPSIGNAL as a number (SIGTERM when it has none); SM2340 when it names no signal.</summary>
    public static int StopSignal(ImageConfig config, MicroVmImageRequest request) =>
        string.IsNullOrWhiteSpace(config.StopSignal) ? SignalNumbers.Terminate
        : SignalNumbers.Parse(config.StopSignal) ?? throw Errors.InvalidStopSignal(request.Reference, config.StopSignal);

    /// <summary>Splits a command line as a POSIX shell would for words and quotes (no expansion).</summary>
    public static IReadOnlyList<string> SplitCommand(string command, string image, string metadataName = "Command")
    {
        var words = new List<string>();
        var word = new StringBuilder();
        bool inWord = false;
        char quote = '\0';
        for (int i = 0; i < command.Length; i++)
        {
            char c = command[i];
            if (quote == '\'')
            {
                if (c == '\'') { quote = '\0'; } else { word.Append(c); }
            }
            else if (quote == '"')
            {
                if (c == '"') { quote = '\0'; }
                else if (c == '\\' && i + 1 < command.Length && command[i + 1] is '"' or '\\' or '$' or '`') { word.Append(command[++i]); }
                else { word.Append(c); }
            }
            else if (c is '\'' or '"')
            {
                quote = c;
                inWord = true;
            }
            else if (c == '\\' && i + 1 < command.Length)
            {
                word.Append(command[++i]);
                inWord = true;
            }
            else if (char.IsWhiteSpace(c))
            {
                if (inWord)
                {
                    words.Add(word.ToString());
                    word.Clear();
                    inWord = false;
                }
            }
            else
            {
                word.Append(c);
                inWord = true;
            }
        }
        if (quote != '\0')
        {
            throw Errors.InvalidImageMetadata(image, metadataName, command, "a complete command line (a quote is not closed)");
        }
        if (inWord)
        {
            words.Add(word.ToString());
        }
        return words;
    }
}
