using System.Text;

namespace Supermachine.Dockerfile.Parsing;

/// <summary>
/// One node of the Dockerfile syntax tree, shaped as BuildKit's: the root's <see cref="Children"/>
/// are the instructions; an instruction's <see cref="Value"/> is its keyword as written and
/// <see cref="Next"/> chains its arguments. ONBUILD's single argument node has the wrapped
/// instruction as its only child.
/// </summary>
internal sealed class Node
{
    /// <summary>The keyword (instruction nodes) or the argument text.</summary>
    public string Value { get; set; } = "";

    /// <summary>The next argument in this instruction.</summary>
    public Node? Next { get; set; }

    public List<Node> Children { get; } = [];

    /// <summary>Heredoc bodies attached to this instruction, in the order they were opened.</summary>
    public List<Heredoc> Heredocs { get; } = [];

    /// <summary>True when the arguments were written as a JSON array (exec form).</summary>
    public bool IsJson { get; set; }

    /// <summary>The instruction line after continuation lines were joined, before argument parsing.</summary>
    public string Original { get; set; } = "";

    /// <summary>Builder flags such as <c>--from=build</c>, as written (quotes removed).</summary>
    public List<string> Flags { get; } = [];

    /// <summary>1-based first line of the instruction in the file.</summary>
    public int StartLine { get; set; }

    /// <summary>1-based last line (heredoc bodies included).</summary>
    public int EndLine { get; set; }

    /// <summary>Comment lines directly above the instruction, without the '#'.</summary>
    public List<string> PrevComment { get; } = [];

    /// <summary>The arguments as a flat list: values along <see cref="Next"/>, with a sub-instruction flattened as keyword then its arguments.</summary>
    public IReadOnlyList<string> Arguments()
    {
        var result = new List<string>();
        for (Node? n = Next; n is not null; n = n.Next)
        {
            if (n.Children.Count == 0)
            {
                result.Add(n.Value);
            }
            else if (n.Children.Count == 1)
            {
                result.Add(n.Children[0].Value);
                result.AddRange(n.Children[0].Arguments());
            }
        }
        return result;
    }

    /// <summary>
    /// BuildKit's s-expression dump: one <c>(keyword ["--flag"] "arg" ...)</c> line per instruction,
    /// strings quoted the way Go's <c>strconv.Quote</c> does.
    /// </summary>
    public string Dump()
    {
        var text = new StringBuilder();
        text.Append(Value.ToLowerInvariant());
        if (Flags.Count > 0)
        {
            text.Append(" [");
            for (int i = 0; i < Flags.Count; i++)
            {
                if (i > 0)
                {
                    text.Append(' ');
                }
                GoQuote.Append(text, Flags[i]);
            }
            text.Append(']');
        }
        foreach (Node child in Children)
        {
            text.Append('(').Append(child.Dump()).Append(")\n");
        }
        for (Node? n = Next; n is not null; n = n.Next)
        {
            text.Append(' ');
            if (n.Children.Count > 0)
            {
                text.Append(n.Dump());
            }
            else
            {
                GoQuote.Append(text, n.Value);
            }
        }
        return GoQuote.TrimSpace(text.ToString());
    }
}

/// <summary>A heredoc opened on an instruction line (<c>&lt;&lt;EOF</c>, <c>&lt;&lt;-EOF</c>, <c>&lt;&lt;"EOF"</c>).</summary>
/// <param name="Name">The delimiter word, quotes removed.</param>
/// <param name="FileDescriptor">The number written before <c>&lt;&lt;</c> (0 when none).</param>
/// <param name="Expand">False when any part of the delimiter was quoted: the body is taken literally.</param>
/// <param name="Chomp">True for <c>&lt;&lt;-</c>: leading tabs are stripped from the body and the delimiter line.</param>
/// <param name="Content">The body, each line with its line ending, without the delimiter line.</param>
internal sealed record Heredoc(string Name, int FileDescriptor, bool Expand, bool Chomp, string Content);
