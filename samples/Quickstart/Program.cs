using System.Reflection;
using Supermachine.Bake;

// The quick start grows with the product: today it shows the SDK and runtime are wired up.
string version = typeof(ArtifactName).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "?";
Console.WriteLine($"Supermachine.Runtime {version.Split('+')[0]} is referenced by Supermachine.Sdk.");
Console.WriteLine($"<MicroVmImage Include=\"redis:7\" /> will be baked as '{ArtifactName.FromReference("redis:7")}' under {Path.Combine(AppContext.BaseDirectory, "microvms")}.");
