using System.Reflection;
using Supermachine.Bench;

IBenchmark[] all = Assembly.GetExecutingAssembly().GetTypes()
    .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
    .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
    .OrderBy(b => b.Name, StringComparer.Ordinal)
    .ToArray();

if (args.Length == 0 || args[0] is "-h" or "--help")
{
    Console.WriteLine("Usage: eng/bench.sh NAME|all");
    foreach (IBenchmark b in all)
    {
        Console.WriteLine($"  {b.Name,-12} {b.Description}");
    }
    return args.Length == 0 ? 2 : 0;
}

IBenchmark[] chosen = args[0] == "all" ? all : all.Where(b => args.Contains(b.Name)).ToArray();
if (chosen.Length == 0)
{
    Console.Error.WriteLine($"No benchmark named {string.Join(", ", args)}.");
    return 2;
}

string work = Path.Combine(Path.GetTempPath(), "supermachine-bench-" + Environment.ProcessId);
Directory.CreateDirectory(work);
try
{
    foreach (IBenchmark b in chosen)
    {
        Console.WriteLine($"## {b.Name}: {b.Description}");
        string dir = Path.Combine(work, b.Name);
        Directory.CreateDirectory(dir);
        await b.RunAsync(new BenchContext(dir, Console.Out), CancellationToken.None);
        Console.WriteLine();
    }
}
finally
{
    Directory.Delete(work, recursive: true);
}
return 0;
