namespace Supermachine;

/// <summary>Hardware accelerators an engine can use; chosen by measurement unless overridden.</summary>
public enum Accelerator
{
    Kvm,
    Hvf,
    Whpx,
    Tcg,
}
