namespace Supermachine.Tasks.Cli;

internal static class HelpWriter
{
    public static void Write(TextWriter output, CommandSpec? command, IReadOnlyList<CommandSpec> all)
    {
        if (command is null)
        {
            output.WriteLine($"supermachine {Program.Version}: OCI images and Dockerfiles as snapshot-restored microVMs.");
            output.WriteLine();
            output.WriteLine("Usage: supermachine COMMAND [ARGS] [OPTIONS]   (--verbose anywhere adds the stack trace of a failure)");
            output.WriteLine();
            output.WriteLine("Commands:");
            int width = all.Max(c => c.Name.Length + 1 + c.Arguments.Length);
            foreach (CommandSpec c in all)
            {
                output.WriteLine($"  {(c.Name + " " + c.Arguments).PadRight(width)}  {c.Summary}");
            }
            output.WriteLine();
            output.WriteLine("IMAGE is a registry reference (redis:7), oci-layout:DIR[:TAG], oci-archive:FILE[:TAG] or docker-archive:FILE.");
            output.WriteLine();
            output.WriteLine("Environment:");
            output.WriteLine("  SUPERMACHINE_REGISTRY_MIRRORS    docker.io=http://127.0.0.1:5000;ghcr.io=...");
            output.WriteLine("  SUPERMACHINE_INSECURE_REGISTRIES registries reached over plain HTTP (localhost and 127.0.0.1 always are)");
            output.WriteLine("  SUPERMACHINE_CACHE               content store and bake cache (default ~/.cache/supermachine)");
            output.WriteLine("  SUPERMACHINE_ACCELERATOR         kvm, hvf, whpx or tcg instead of the measured choice");
            output.WriteLine("  SUPERMACHINE_NETWORK_TIMEOUT     seconds a registry read may stall before it is retried (default 60)");
            output.WriteLine();
            output.WriteLine("Run 'supermachine COMMAND --help' for a command's options.");
            return;
        }

        output.WriteLine($"Usage: {command.Usage}{(command.Options.Count > 0 ? " [OPTIONS]" : "")}");
        output.WriteLine();
        output.WriteLine(command.Summary);
        if (command.Options.Count > 0)
        {
            output.WriteLine();
            output.WriteLine("Options:");
            int width = command.Options.Max(o => o.Display.Length);
            foreach (OptionSpec o in command.Options)
            {
                output.WriteLine($"  {o.Display.PadRight(width)}  {o.Help}{(o.Repeatable ? " May be repeated." : "")}");
            }
        }
    }
}
