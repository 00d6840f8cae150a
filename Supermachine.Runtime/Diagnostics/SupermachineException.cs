namespace Supermachine;

/// <summary>
/// A failure the user can act on. <see cref="Code"/> is the stable SM#### identifier from the
/// diagnostics table; the message already starts with it.
/// </summary>
public class SupermachineException : Exception
{
    public SupermachineException(string code, string message, Exception? innerException = null)
        : base($"{code}: {message}", innerException)
    {
        Code = code;
    }

    /// <summary>The SM#### code, for example <c>SM1001</c>.</summary>
    public string Code { get; }

    /// <summary>The message without the leading code.</summary>
    public string Text => Message.Length > Code.Length + 2 ? Message[(Code.Length + 2)..] : Message;

    /// <summary>Which part of the system the code belongs to, read from its range.</summary>
    internal Diagnostics.DiagnosticArea Area => Diagnostics.DiagnosticAreas.Of(Code);
}
