using Supermachine.Tasks.Cli;
using Supermachine.Tests.Oci;

namespace Supermachine.Tasks.Tests.Cli;

/// <summary>
/// The commands that write a directory never delete or merge into what they did not write:
/// `bake IMAGE .` in a project, `build . .`, `rootfs IMAGE DIR` into a non-empty directory or a file.
/// </summary>
public class OutputSafetyTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("sm-cli-safety-").FullName;

    private static string Busybox => $"oci-layout:{OciTestFixtures.Layout}:busybox";

    private async Task<(int Exit, string Errors)> RunAsync(params string[] args)
    {
        var stderr = new StringWriter();
        int exit = await Program.RunAsync(args, new StringWriter(), stderr, CancellationToken.None);
        return (exit, stderr.ToString());
    }

    private string Project()
    {
        string project = Path.Combine(_root, "project");
        Directory.CreateDirectory(project);
        File.WriteAllText(Path.Combine(project, "Program.cs"), "// my code");
        File.WriteAllText(Path.Combine(project, "Dockerfile"), $"FROM {Busybox}\n");
        return project;
    }

    private static void AssertIntact(string project)
    {
        Assert.Equal("// my code", File.ReadAllText(Path.Combine(project, "Program.cs")));
        Assert.True(File.Exists(Path.Combine(project, "Dockerfile")));
        Assert.Equal(2, Directory.GetFileSystemEntries(project).Length);
    }

    [Fact]
    public async Task Bake_into_a_project_directory_fails_SM2320_and_deletes_nothing()
    {
        string project = Project();
        (int exit, string errors) = await RunAsync("bake", Busybox, project, "--no-snapshot");
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2320", errors);
        Assert.Contains("not a Supermachine image", errors);
        AssertIntact(project);
    }

    [Fact]
    public async Task Build_of_a_context_into_itself_or_its_parent_is_refused_and_deletes_nothing()
    {
        string project = Project();
        (int exit, string errors) = await RunAsync("build", project, project, "--no-snapshot");
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2321", errors);
        AssertIntact(project);

        (exit, errors) = await RunAsync("build", project, _root, "--no-snapshot");
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2321", errors);
        AssertIntact(project);
    }

    [Fact]
    public async Task Rootfs_into_a_non_empty_directory_needs_force_and_into_a_file_is_SM2323()
    {
        string target = Path.Combine(_root, "tree");
        Directory.CreateDirectory(target);
        File.WriteAllText(Path.Combine(target, "stale"), "old");

        (int exit, string errors) = await RunAsync("rootfs", Busybox, target);
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2322", errors);
        Assert.Contains("--force", errors);
        Assert.Single(Directory.GetFileSystemEntries(target));

        (exit, errors) = await RunAsync("rootfs", Busybox, target, "--force");
        Assert.True(exit == Program.Success, errors);
        Assert.True(File.Exists(Path.Combine(target, "bin", "busybox")));
        Assert.Equal("old", File.ReadAllText(Path.Combine(target, "stale")));

        string file = Path.Combine(_root, "file");
        File.WriteAllText(file, "data");
        (exit, errors) = await RunAsync("rootfs", Busybox, file, "--force");
        Assert.Equal(Program.Failure, exit);
        Assert.Contains("SM2323", errors);
        Assert.DoesNotContain("   at ", errors);
        Assert.Equal("data", File.ReadAllText(file));
    }

    public void Dispose() => Directory.Delete(_root, recursive: true);
}
