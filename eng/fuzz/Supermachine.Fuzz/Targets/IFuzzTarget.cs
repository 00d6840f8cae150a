namespace Supermachine.Fuzz.Targets;

/// <summary>One fuzz target: what an input means, and the inputs it starts from.</summary>
internal interface IFuzzTarget
{
    string Name { get; }

    /// <summary>Feeds <paramref name="input"/> to the code under test; throws only on a finding or a SupermachineException.</summary>
    void Run(byte[] input);

    /// <summary>Small valid inputs the fuzzer mutates (file name, content).</summary>
    IEnumerable<(string Name, byte[] Content)> Seeds();
}
