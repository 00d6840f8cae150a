using Supermachine.Diagnostics;
using Supermachine.Dockerfile.Context;

namespace Supermachine.Tests.Dockerfile;

public class DockerIgnoreTests
{
    // Cases from moby/patternmatcher's TestMatches (Apache-2.0), checked with parent-directory matching.
    [Theory]
    [InlineData("**", "file", true)]
    [InlineData("**", "file/", true)]
    [InlineData("**/", "file", true)]
    [InlineData("**/", "file/", true)]
    [InlineData("**", "/", true)]
    [InlineData("**/", "/", true)]
    [InlineData("**", "dir/file", true)]
    [InlineData("**/", "dir/file", true)]
    [InlineData("**", "dir/file/", true)]
    [InlineData("**/", "dir/file/", true)]
    [InlineData("**/**", "dir/file", true)]
    [InlineData("**/**", "dir/file/", true)]
    [InlineData("dir/**", "dir/file", true)]
    [InlineData("dir/**", "dir/file/", true)]
    [InlineData("dir/**", "dir/dir2/file", true)]
    [InlineData("dir/**", "dir/dir2/file/", true)]
    [InlineData("**/dir", "dir", true)]
    [InlineData("**/dir", "dir/file", true)]
    [InlineData("**/dir2/*", "dir/dir2/file", true)]
    [InlineData("**/dir2/*", "dir/dir2/file/", true)]
    [InlineData("**/dir2/**", "dir/dir2/dir3/file", true)]
    [InlineData("**/dir2/**", "dir/dir2/dir3/file/", true)]
    [InlineData("**file", "file", true)]
    [InlineData("**file", "dir/file", true)]
    [InlineData("**/file", "dir/file", true)]
    [InlineData("**file", "dir/dir/file", true)]
    [InlineData("**/file", "dir/dir/file", true)]
    [InlineData("**/file*", "dir/dir/file", true)]
    [InlineData("**/file*", "dir/dir/file.txt", true)]
    [InlineData("**/file*txt", "dir/dir/file.txt", true)]
    [InlineData("**/file*.txt", "dir/dir/file.txt", true)]
    [InlineData("**/file*.txt*", "dir/dir/file.txt", true)]
    [InlineData("**/**/*.txt", "dir/dir/file.txt", true)]
    [InlineData("**/**/*.txt2", "dir/dir/file.txt", false)]
    [InlineData("**/*.txt", "file.txt", true)]
    [InlineData("**/**/*.txt", "file.txt", true)]
    [InlineData("a**/*.txt", "a/file.txt", true)]
    [InlineData("a**/*.txt", "a/dir/file.txt", true)]
    [InlineData("a**/*.txt", "a/dir/dir/file.txt", true)]
    [InlineData("a/*.txt", "a/dir/file.txt", false)]
    [InlineData("a/*.txt", "a/file.txt", true)]
    [InlineData("a/*.txt**", "a/file.txt", true)]
    [InlineData("a[b-d]e", "ae", false)]
    [InlineData("a[b-d]e", "ace", true)]
    [InlineData("a[b-d]e", "aae", false)]
    [InlineData("a[^b-d]e", "aze", true)]
    [InlineData(".*", ".foo", true)]
    [InlineData(".*", "foo", false)]
    [InlineData("abc.def", "abcdef", false)]
    [InlineData("abc.def", "abc.def", true)]
    [InlineData("abc.def", "abcZdef", false)]
    [InlineData("abc?def", "abcZdef", true)]
    [InlineData("abc?def", "abcdef", false)]
    [InlineData("a\\\\", "a\\", true)]
    [InlineData("**/foo/bar", "foo/bar", true)]
    [InlineData("**/foo/bar", "dir/foo/bar", true)]
    [InlineData("**/foo/bar", "dir/dir2/foo/bar", true)]
    [InlineData("abc/**", "abc", false)]
    [InlineData("abc/**", "abc/def", true)]
    [InlineData("abc/**", "abc/def/ghi", true)]
    [InlineData("**/.foo", ".foo", true)]
    [InlineData("**/.foo", "bar.foo", false)]
    [InlineData("a(b)c/def", "a(b)c/def", true)]
    [InlineData("a(b)c/def", "a(b)c/xyz", false)]
    [InlineData("a.|)$(}+{bc", "a.|)$(}+{bc", true)]
    [InlineData("dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true)]
    [InlineData("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", true)]
    [InlineData("a\\*b", "a*b", true)]
    public void Pattern_matches_like_moby(string pattern, string path, bool expected)
    {
        Assert.Equal(expected, DockerIgnore.FromPatterns([pattern]).IsIgnored(path));
    }

    [Theory]
    [InlineData(new[] { "**", "!util/docker/web" }, "util/docker/web/foo", false)]
    [InlineData(new[] { "**", "!util/docker/web", "util/docker/web/foo" }, "util/docker/web/foo", true)]
    [InlineData(new[] { "**", "!dist/*.whl" }, "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", false)]
    [InlineData(new[] { "docs", "!docs/README.md" }, "docs/README.md", false)]
    [InlineData(new[] { "docs", "!docs/README.md" }, "docs/other.md", true)]
    [InlineData(new[] { "*.log", "!keep.log" }, "keep.log", false)]
    [InlineData(new[] { "*.log", "!keep.log" }, "sub/x.log", false)]
    public void Last_matching_pattern_wins(string[] patterns, string path, bool expected)
    {
        Assert.Equal(expected, DockerIgnore.FromPatterns(patterns).IsIgnored(path));
    }

    [Fact]
    public void File_syntax_comments_blank_lines_leading_slash_and_cleaning()
    {
        DockerIgnore ignore = DockerIgnore.Parse("\uFEFF# comment\n\n  /bin/  \n./obj//\n !  obj/keep.txt\n #not a comment\n", "ctx/.dockerignore");
        Assert.Equal(["bin", "obj", "!obj/keep.txt", "#not a comment"], ignore.Patterns);
        Assert.True(ignore.IsIgnored("bin/Debug/app.dll"));
        Assert.True(ignore.IsIgnored("obj/x"));
        Assert.False(ignore.IsIgnored("obj/keep.txt"));
        Assert.False(ignore.IsIgnored("src/bin"));
        Assert.True(ignore.HasExceptions);
    }

    [Fact]
    public void Invalid_patterns_are_sm2211_with_the_line()
    {
        var e = Assert.Throws<SupermachineException>(() => DockerIgnore.Parse("ok\n[unclosed\n", "ctx/.dockerignore"));
        Assert.Equal("SM2211", e.Code);
        Assert.Contains("line 2", e.Message);
        Assert.Equal("SM2211", Assert.Throws<SupermachineException>(() => DockerIgnore.Parse("!\n")).Code);
    }
}
