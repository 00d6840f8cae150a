using System.Diagnostics;
using System.Text;
using Supermachine.Tests.Infrastructure;

namespace Supermachine.Tests.Oci;

/// <summary>The fixture images of tests/fixtures/images.sh, built once into the set-up cache.</summary>
public static class OciTestFixtures
{
    private static readonly Lazy<string> Built = new(Build);

    /// <summary>The fixtures directory (layout/, zstd-layout/, redis.oci.tar, busybox.docker.tar).</summary>
    public static string Directory => Built.Value;

    public static string Layout => Path.Combine(Directory, "layout");

    public static string ZstdLayout => Path.Combine(Directory, "zstd-layout");

    private static string Build()
    {
        string dir = Path.Combine(TestEnvironment.SetupCache, "fixtures");
        // images.sh is idempotent and returns at once when its marker matches.
        ProcessRunner.Run("bash", [Path.Combine(TestEnvironment.RepositoryRoot, "tests", "fixtures", "images.sh"), dir], TimeSpan.FromMinutes(5));
        return dir;
    }
}
