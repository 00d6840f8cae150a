using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Building;
using Supermachine.FileSystem;
using Supermachine.Oci;
using Supermachine.Oci.Layers;
using Supermachine.Tests.Infrastructure;
using Supermachine.Tests.Oci;

namespace Supermachine.Tests.Dockerfile;

/// <summary>
/// The in-VM builder end to end: real build VMs (QEMU), the fixture busybox image as the base, and
/// the built image checked by flattening its layers on the host exactly as a bake commits them.
/// One multi-stage build is shared by the tests that read its result.
/// </summary>
public class DockerfileBuilderTests
{
    internal const string Dockerfile = """
        ARG BASE
        ARG GREETING=hello
        FROM ${BASE} AS builder
        ARG GREETING
        ARG STAGE_ONLY=builder-value
        WORKDIR /work/deep
        RUN mkdir -p /out && echo "$GREETING from $STAGE_ONLY" > /out/greeting.txt && echo "cwd=$(pwd)" > /out/cwd.txt

        FROM ${BASE} AS unused
        RUN exit 1

        FROM builder AS extended
        COPY notes.md /extended/

        FROM ${BASE}
        ARG STAGE_ONLY
        COPY --from=builder /out/ /from-builder/
        COPY --from=extended /extended/notes.md /out/greeting.txt /via-extended/
        COPY app /app
        COPY . /ctx/
        COPY --chown=nobody:nogroup --chmod=640 notes.md /home/
        ADD bundle.tar.gz /bundle/
        RUN echo "stage_only=[${STAGE_ONLY}]" > /arg.txt && rm /bin/hostname && rm -r /var/lib && mkdir /var/lib && echo fresh > /var/lib/only
        USER nobody
        WORKDIR /data
        RUN id -u > /data/uid.txt && touch /data/made-by-nobody
        CMD ["sleep", "100000"]
        """;

    private static readonly Lazy<Task<BuiltImage>> Shared = new(() => BuildSharedAsync());

    internal sealed record BuiltImage(string Root, DockerfileBuildResult First, DockerfileBuildResult Second, IReadOnlyDictionary<string, (FileSystemEntry Entry, byte[] Content)> Files, DockerfileBuildResult Target, IReadOnlyDictionary<string, (FileSystemEntry Entry, byte[] Content)> TargetFiles);

    internal static string BaseImage => $"oci-layout:{OciTestFixtures.Layout}:busybox";

    private static async Task<BuiltImage> BuildSharedAsync()
    {
        string root = Directory.CreateTempSubdirectory("sm-dfbuild-").FullName;
        string context = Path.Combine(root, "context");
        Directory.CreateDirectory(Path.Combine(context, "app", "bin"));
        File.WriteAllText(Path.Combine(context, "Dockerfile"), Dockerfile);
        File.WriteAllText(Path.Combine(context, "app", "hello.txt"), "hello from the context\n");
        File.WriteAllText(Path.Combine(context, "app", "bin", "tool.sh"), "#!/bin/sh\necho tool\n");
        File.SetUnixFileMode(Path.Combine(context, "app", "bin", "tool.sh"), (UnixFileMode)0x1ED);
        File.WriteAllText(Path.Combine(context, "notes.md"), "notes\n");
        File.WriteAllText(Path.Combine(context, "secret.txt"), "must not reach the image\n");
        File.WriteAllText(Path.Combine(context, ".dockerignore"), "secret.txt\n");
        WriteTarGz(Path.Combine(context, "bundle.tar.gz"), ("inner/file.txt", "from the archive\n"));

        var request = new DockerfileBuildRequest
        {
            ContextDirectory = context,
            BuildArgs = new Dictionary<string, string> { ["BASE"] = BaseImage, ["UNUSED"] = "x" },
        };
        var options = new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache") };
        DockerfileBuildResult first = await DockerfileBuilder.BuildAsync(request, options);
        DockerfileBuildResult second = await DockerfileBuilder.BuildAsync(request, options);
        DockerfileBuildResult target = await DockerfileBuilder.BuildAsync(request with { Target = "builder" }, options);
        return new BuiltImage(root, first, second, await ReadImageAsync(first.Image), target, await ReadImageAsync(target.Image));
    }

    internal static async Task<Dictionary<string, (FileSystemEntry, byte[])>> ReadImageAsync(PulledImage image)
    {
        var files = new Dictionary<string, (FileSystemEntry, byte[])>(StringComparer.Ordinal);
        await foreach (FileSystemEntry entry in LayerFlattener.For(image).FlattenAsync())
        {
            byte[] content = [];
            if (entry.OpenContent is { } open && entry.Size < 1 << 20)
            {
                using Stream stream = open();
                var buffer = new MemoryStream();
                stream.CopyTo(buffer);
                content = buffer.ToArray();
            }
            files[entry.Path] = (entry, content);
        }
        return files;
    }

    internal static void WriteTarGz(string path, params (string Name, string Content)[] files)
    {
        using FileStream file = File.Create(path);
        using var gzip = new GZipStream(file, CompressionLevel.Fastest);
        using var tar = new TarWriter(gzip, TarEntryFormat.Pax);
        foreach ((string name, string content) in files)
        {
            tar.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)), Mode = (UnixFileMode)0x1A4 });
        }
    }

    private static string Text(BuiltImage image, string path) =>
        image.Files.TryGetValue(path, out var file) ? Encoding.UTF8.GetString(file.Content) : throw new Xunit.Sdk.XunitException($"'{path}' is not in the built image");

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Copy_from_another_stage_brings_what_its_RUN_wrote_with_the_stage_args_and_workdir()
    {
        BuiltImage image = await Shared.Value;
        Assert.Equal("hello from builder-value\n", Text(image, "from-builder/greeting.txt"));
        Assert.Equal("cwd=/work/deep\n", Text(image, "from-builder/cwd.txt"));
        Assert.DoesNotContain("work/deep", image.Files.Keys); // only the builder stage had it
        // A stage built FROM another stage starts from its filesystem.
        Assert.Equal("notes\n", Text(image, "via-extended/notes.md"));
        Assert.Equal("hello from builder-value\n", Text(image, "via-extended/greeting.txt"));
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_target_stage_builds_that_stage_only_from_the_cache()
    {
        BuiltImage image = await Shared.Value;
        Assert.Equal(0, image.Target.VmBoots);
        Assert.Equal("cwd=/work/deep\n", Encoding.UTF8.GetString(image.TargetFiles["out/cwd.txt"].Content));
        Assert.Contains("work/deep", image.TargetFiles.Keys);
        Assert.DoesNotContain("app/hello.txt", image.TargetFiles.Keys);
        Assert.Equal("/work/deep", image.Target.Image.Config.Config.WorkingDir);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task An_ARG_declared_without_default_in_a_stage_does_not_see_another_stages_value()
    {
        BuiltImage image = await Shared.Value;
        Assert.Equal("stage_only=[]\n", Text(image, "arg.txt"));
        Assert.Contains("UNUSED", image.First.UnusedBuildArgs);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Copy_from_the_context_keeps_modes_honours_dockerignore_chown_chmod_and_ADD_extracts_tars()
    {
        BuiltImage image = await Shared.Value;
        Assert.Equal("hello from the context\n", Text(image, "app/hello.txt"));
        Assert.Equal(0x1ED, image.Files["app/bin/tool.sh"].Entry.Mode);
        Assert.Equal("notes\n", Text(image, "ctx/notes.md"));
        Assert.DoesNotContain("ctx/secret.txt", image.Files.Keys);
        Assert.DoesNotContain(image.Files.Keys, k => k.EndsWith("secret.txt", StringComparison.Ordinal));
        FileSystemEntry notes = image.Files["home/notes.md"].Entry;
        Assert.Equal((65534, 65534, 0x1A0), (notes.Uid, notes.Gid, notes.Mode));
        Assert.Equal("from the archive\n", Text(image, "bundle/inner/file.txt"));
        Assert.True(image.Files.ContainsKey("bundle.tar.gz") is false && !image.Files.ContainsKey("bundle/bundle.tar.gz"), "ADD extracts a local tar instead of copying it");
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task USER_and_WORKDIR_shape_what_later_steps_create_and_deletions_are_committed()
    {
        BuiltImage image = await Shared.Value;
        Assert.Equal("65534\n", Text(image, "data/uid.txt"));
        Assert.Equal(65534, image.Files["data"].Entry.Uid);
        Assert.Equal(65534, image.Files["data/made-by-nobody"].Entry.Uid);
        Assert.DoesNotContain("bin/hostname", image.Files.Keys);
        Assert.Contains("bin/sh", image.Files.Keys);
        // The /etc/hosts the agent gives a running guest is not part of the image (as with Docker).
        Assert.DoesNotContain("etc/hosts", image.Files.Keys);
        Assert.DoesNotContain("etc/hostname", image.Files.Keys);
        // rm -r + mkdir of a base directory hides everything it had (an opaque directory).
        Assert.Equal("fresh\n", Text(image, "var/lib/only"));
        Assert.Single(image.Files.Keys, k => k.StartsWith("var/lib/", StringComparison.Ordinal));
        Assert.Equal(["sleep", "100000"], image.First.Image.Config.Config.Cmd);
        Assert.Equal("nobody", image.First.Image.Config.Config.User);
        Assert.Equal("/data", image.First.Image.Config.Config.WorkingDir);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task Stages_the_target_does_not_need_never_run_and_a_second_build_is_all_cache_without_a_VM()
    {
        BuiltImage image = await Shared.Value;
        Assert.True(image.First.VmBoots > 0);
        Assert.True(image.First.ExecutedSteps > 0);
        // The "unused" stage's failing RUN would have failed the build.
        Assert.Equal(0, image.Second.VmBoots);
        Assert.Equal(0, image.Second.ExecutedSteps);
        Assert.Equal(image.First.ExecutedSteps, image.Second.CachedSteps);
        Assert.Equal(image.First.Image.ManifestDigest, image.Second.Image.ManifestDigest);
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_failing_RUN_fails_the_build_with_its_exit_code_output_and_line()
    {
        string root = Directory.CreateTempSubdirectory("sm-dffail-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "Dockerfile"), "ARG BASE\nFROM ${BASE}\nRUN echo about-to-fail && echo on-stderr >&2 && exit 7\n");
            var e = await Assert.ThrowsAsync<SupermachineException>(() => DockerfileBuilder.BuildAsync(
                new DockerfileBuildRequest { ContextDirectory = root, BuildArgs = new Dictionary<string, string> { ["BASE"] = BaseImage } },
                new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache") }));
            Assert.Equal("SM2214", e.Code);
            Assert.Contains("line 3", e.Message);
            Assert.Contains("exit code 7", e.Message);
            Assert.Contains("about-to-fail", e.Message);
            Assert.Contains("on-stderr", e.Message);
            Assert.Empty(Directory.GetFiles(Path.Combine(root, "cache", "dockerfile", "rootfs")));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [RequiresToolFact("qemu-system-x86_64")]
    public async Task A_cancelled_build_stops_its_VM_and_leaves_no_step_result_or_temporary_file()
    {
        string root = Directory.CreateTempSubdirectory("sm-dfcancel-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "Dockerfile"), "ARG BASE\nFROM ${BASE}\nRUN echo started-the-long-step && sleep 600\n");
            using var cancel = new CancellationTokenSource();
            string cache = Path.Combine(root, "cache");
            var clock = System.Diagnostics.Stopwatch.StartNew();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => DockerfileBuilder.BuildAsync(
                new DockerfileBuildRequest { ContextDirectory = root, BuildArgs = new Dictionary<string, string> { ["BASE"] = BaseImage } },
                new DockerfileBuildOptions
                {
                    CacheDirectory = cache,
                    Progress = line =>
                    {
                        // The command's own output (indented), not the step's announcement.
                        if (line.Trim() == "started-the-long-step")
                        {
                            cancel.Cancel();
                        }
                    },
                },
                cancel.Token));
            Assert.True(cancel.IsCancellationRequested, "the RUN command started in the build VM");
            Assert.True(clock.Elapsed < TimeSpan.FromMinutes(5), "the build stopped when cancelled, not when the command ended");
            Assert.Empty(Directory.GetFiles(Path.Combine(cache, "dockerfile", "rootfs")));
            Assert.False(Directory.Exists(Path.Combine(cache, "dockerfile", "steps")) && Directory.EnumerateFiles(Path.Combine(cache, "dockerfile", "steps")).Any());
            Assert.False(Directory.Exists(Path.Combine(cache, "dockerfile", "tmp")) && Directory.EnumerateFileSystemEntries(Path.Combine(cache, "dockerfile", "tmp")).Any());
            // The build VM is gone: no QEMU process has the build's root filesystem open any more.
            Assert.DoesNotContain(System.Diagnostics.Process.GetProcessesByName("qemu-system-x86_64"), p => CommandLine(p.Id).Contains(cache, StringComparison.Ordinal));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    private static string CommandLine(int pid)
    {
        try
        {
            return File.ReadAllText($"/proc/{pid}/cmdline").Replace('\0', ' ');
        }
        catch (IOException)
        {
            return "";
        }
    }

    [Fact]
    public async Task A_build_removes_scratch_files_a_killed_build_left_and_keeps_those_of_running_ones()
    {
        string root = Directory.CreateTempSubdirectory("sm-dforphan-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "Dockerfile"), "FROM scratch\nCOPY Dockerfile /\n");
            string cache = Path.Combine(root, "cache");
            int dead = Enumerable.Range(4_000_000, 1000).First(pid => !Directory.Exists($"/proc/{pid}"));
            string rootfs = Directory.CreateDirectory(Path.Combine(cache, "dockerfile", "rootfs")).FullName;
            string tmp = Directory.CreateDirectory(Path.Combine(cache, "dockerfile", "tmp")).FullName;
            File.WriteAllText(Path.Combine(rootfs, $"rootfs-{dead}_1-0123.sqfs"), "left by a killed build");
            File.WriteAllText(Path.Combine(tmp, $"add-{dead}_1-4567.tar"), "left by a killed build");
            Directory.CreateDirectory(Path.Combine(tmp, $"snapshot-{dead}_1-89ab"));
            string alive = Path.Combine(tmp, ScratchFiles.Name("add", "cdef.tar"));
            File.WriteAllText(alive, "a running build's");

            DockerfileBuildResult result = await DockerfileBuilder.BuildAsync(new DockerfileBuildRequest { ContextDirectory = root }, new DockerfileBuildOptions { CacheDirectory = cache });

            Assert.Equal(0, result.VmBoots);
            Assert.Empty(Directory.GetFiles(rootfs));
            Assert.Equal([alive], Directory.GetFileSystemEntries(tmp));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_chown_to_a_user_the_stage_does_not_have_is_SM2216_naming_it_and_the_line()
    {
        string root = Directory.CreateTempSubdirectory("sm-dfchown-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(root, "Dockerfile"), "FROM scratch\nCOPY --chown=appuser Dockerfile /\n");
            var e = await Assert.ThrowsAsync<SupermachineException>(() => DockerfileBuilder.BuildAsync(
                new DockerfileBuildRequest { ContextDirectory = root }, new DockerfileBuildOptions { CacheDirectory = Path.Combine(root, "cache") }));
            Assert.Equal("SM2216", e.Code);
            Assert.Contains("line 2", e.Message);
            Assert.Contains("'appuser'", e.Message);
            Assert.Contains("/etc/passwd", e.Message);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_context_is_a_clear_error_before_anything_runs()
    {
        var e = await Assert.ThrowsAsync<SupermachineException>(() => DockerfileBuilder.BuildAsync(new DockerfileBuildRequest { ContextDirectory = "/nonexistent/context" }));
        Assert.Equal("SM2219", e.Code);
        Assert.Contains("/nonexistent/context", e.Message);
    }
}
