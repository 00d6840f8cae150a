using Microsoft.Build.Framework;

namespace Supermachine.Tasks;

// The readiness, warmup, files-in and kernel-argument metadata (issue #19) as host options.
public sealed partial class BakeMicroVmImages
{
    private static void AddReadinessArguments(ITaskItem image, List<string> args)
    {
        void Add(string option, string metadata)
        {
            // Taken as written: a regex or a command may mean its spaces.
            string value = image.GetMetadata(metadata);
            if (!string.IsNullOrWhiteSpace(value))
            {
                args.Add(option);
                args.Add(value);
            }
        }
        Add("--wait-log", "WaitForLog");
        Add("--wait-log-times", "WaitForLogTimes");
        Add("--wait-http", "WaitForHttp");
        Add("--wait-cmd", "WaitForCommand");
        Add("--warmup", "Warmup");
        Add("--warmup-tag", "WarmupTag");
        Add("--kernel-args", "KernelArgs");
        // Files: set by ResolveMicroVmImages from the MicroVmFile items (absolute host paths), one spec each.
        string fileOption = "--" + Cli.Commands.ReadinessOptions.FileOption(build: !string.IsNullOrWhiteSpace(image.GetMetadata("Dockerfile")));
        foreach (string spec in image.GetMetadata("Files").Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            args.Add(fileOption);
            args.Add(spec);
        }
    }
}
