using System.Reflection;
using Supermachine.Tests.Infrastructure;
using Supermachine.Images;

namespace Supermachine.Tasks.Tests.Sdk;

/// <summary>
/// A real project in a temp folder that uses the packed Supermachine.Sdk from artifacts/packages,
/// the way a user's project would, with its own NuGet package folder so it never sees stale bits
/// of the same version.
/// </summary>
public sealed class ThrowawayProject : IDisposable
{
    private static readonly string PackagesFeed = Path.Combine(TestEnvironment.RepositoryRoot, "artifacts", "packages");

    public ThrowawayProject(string projectBody, string name = "App", string packagesFolder = "")
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("sm-sdk-").FullName;
        ProjectPath = Path.Combine(Directory, name + ".csproj");
        PackagesFolder = packagesFolder.Length > 0 ? packagesFolder : Path.Combine(Directory, ".packages");
        if (!File.Exists(Path.Combine(PackagesFeed, $"Supermachine.Sdk.{Version}.nupkg")))
        {
            throw new InvalidOperationException($"Supermachine.Sdk.{Version}.nupkg is not in {PackagesFeed}: run eng/setup.sh (or eng/test.sh) first.");
        }
        File.WriteAllText(Path.Combine(Directory, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{PackagesFeed}" />
                <add key="nuget.org" value="https://api.nuget.org/v3/index.json" />
              </packageSources>
              <packageSourceMapping>
                <packageSource key="local"><package pattern="Supermachine.*" /></packageSource>
                <packageSource key="nuget.org"><package pattern="*" /></packageSource>
              </packageSourceMapping>
            </configuration>
            """);
        // Keep the repository's Directory.Build.props and global.json out: a user's project has neither.
        File.WriteAllText(Path.Combine(Directory, "Directory.Build.props"), "<Project />");
        File.WriteAllText(Path.Combine(Directory, "Directory.Build.targets"), "<Project />");
        File.WriteAllText(ProjectPath, projectBody.Replace("$(SdkVersion)", Version));
    }

    /// <summary>The version every package of this build carries.</summary>
    public static string Version { get; } =
        typeof(Supermachine.Images.ArtifactName).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()!.InformationalVersion.Split('+')[0];

    public string Directory { get; }

    public string ProjectPath { get; }

    public string PackagesFolder { get; }

    public void WriteFile(string relativePath, string content)
    {
        string path = Path.Combine(Directory, relativePath);
        System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
    }

    /// <summary>Runs `dotnet ARGS` in the project folder.</summary>
    public Task<ProcessResult> DotnetAsync(params string[] args) =>
        ProcessRunner.RunAsync("dotnet", args, Directory, new Dictionary<string, string?>
        {
            ["NUGET_PACKAGES"] = PackagesFolder,
            ["MSBUILDNOINPROCNODE"] = null,
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
            ["DOTNET_NOLOGO"] = "1",
        }, TimeSpan.FromMinutes(8));

    public void Dispose()
    {
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
