using Supermachine.Bake;

namespace Supermachine.Tests.Bake;

public class MetadataListTests
{
    [Fact]
    public void Entries_split_on_semicolons_and_a_backslash_semicolon_stays_in_its_entry()
    {
        Assert.Equal(["A=1", "B=two words", "OPTS=a;b;", @"C=x\y"], MetadataList.Split(@" A=1 ;; B=two words;OPTS=a\;b\; ;C=x\y;"));
        Assert.Empty(MetadataList.Split(null));
        Assert.Empty(MetadataList.Split(" ; "));
    }

    [Fact]
    public void Join_escapes_what_Split_takes_apart()
    {
        string[] entries = ["A=1", "OPTS=a;b", "PATH=/bin:/usr/bin"];
        Assert.Equal(@"A=1;OPTS=a\;b;PATH=/bin:/usr/bin", MetadataList.Join(entries));
        Assert.Equal(entries, MetadataList.Split(MetadataList.Join(entries)));
    }

    [Fact]
    public void An_Env_value_holds_a_semicolon_written_as_backslash_semicolon()
    {
        MicroVmImageRequest request = MicroVmImageRequest.FromMetadata("busybox", k => k == "Env" ? @"JAVA_OPTS=-Da=1\;2;MODE=x" : null);
        Assert.Equal([new("JAVA_OPTS", "-Da=1;2"), new("MODE", "x")], request.Environment);
    }
}
