using Supermachine.Diagnostics;
using Supermachine.Fuzz.Targets;

namespace Supermachine.Fuzz;

/// <summary>
/// The fuzz harness eng/fuzz.sh runs under afl-fuzz. Each target turns one input into a call of
/// product code that must end in a result or a <see cref="SupermachineException"/> (a coded
/// rejection); any other exception, a hang or a crash of the process is a finding.
/// <code>
/// Supermachine.Fuzz run TARGET           under afl-fuzz (input on stdin, persistent mode)
/// Supermachine.Fuzz seeds TARGET DIR     writes generated seed inputs for TARGET into DIR
/// Supermachine.Fuzz replay TARGET FILE.. runs inputs once each, without AFL; exit 1 on a finding
/// </code>
/// </summary>
public static class Program
{
    private static readonly IFuzzTarget[] Targets =
    [
        new DockerfileTarget(),
        new FlattenerTarget(),
        new SquashfsTarget(),
        new FramesTarget(),
        new SessionTarget(),
    ];

    public static int Main(string[] args)
    {
        if (args.Length < 2 || Find(args[1]) is not { } target)
        {
            Console.Error.WriteLine($"usage: Supermachine.Fuzz run|seeds|replay TARGET [...]; targets: {string.Join(", ", Targets.Select(t => t.Name))}");
            return 2;
        }
        switch (args[0])
        {
            case "run":
                SharpFuzz.Fuzzer.Run(stream =>
                {
                    using var buffer = new MemoryStream();
                    stream.CopyTo(buffer);
                    Execute(target, buffer.ToArray());
                });
                return 0;
            case "seeds" when args.Length == 3:
                Directory.CreateDirectory(args[2]);
                int count = 0;
                foreach (var (name, bytes) in target.Seeds())
                {
                    File.WriteAllBytes(Path.Combine(args[2], name), bytes);
                    count++;
                }
                Console.WriteLine($"{count} seeds for {target.Name} in {args[2]}");
                return 0;
            case "replay" when args.Length >= 3:
                int findings = 0;
                foreach (string file in args.Skip(2))
                {
                    try
                    {
                        Execute(target, File.ReadAllBytes(file));
                        Console.WriteLine($"{file}: ok");
                    }
                    catch (Exception e)
                    {
                        findings++;
                        Console.WriteLine($"{file}: FINDING {e}");
                    }
                }
                return findings == 0 ? 0 : 1;
            default:
                Console.Error.WriteLine("usage: Supermachine.Fuzz run|seeds|replay TARGET [...]");
                return 2;
        }
    }

    private static IFuzzTarget? Find(string name) => Targets.FirstOrDefault(t => t.Name == name);

    // A coded rejection is the expected answer to bad input; anything else propagates to AFL as a crash.
    private static void Execute(IFuzzTarget target, byte[] input)
    {
        try
        {
            target.Run(input);
        }
        catch (SupermachineException)
        {
        }
    }
}
