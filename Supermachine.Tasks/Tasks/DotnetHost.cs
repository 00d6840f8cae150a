namespace Supermachine.Tasks;

/// <summary>The dotnet executable to start child processes with (the bake host, msbuild evaluation).</summary>
internal static class DotnetHost
{
    /// <summary>
    /// MSBuild and the dotnet CLI name the host they run on in DOTNET_HOST_PATH, as the .NET SDK's
    /// own tool tasks use it; outside them, "dotnet" from PATH.
    /// </summary>
    public static string Path => Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host ? host : "dotnet";
}
