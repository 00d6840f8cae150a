using Supermachine.Diagnostics;
using Supermachine.Images;

namespace Supermachine.Bake;

// Image profiles (issue #15): a well-known image's defaults enter as metadata the item did not
// give, so every field stays overridable and is validated like the item's own.
internal sealed partial record MicroVmImageRequest
{
    private static readonly string[] ReadinessKeys = ["WaitForLog", "WaitForLogTimes", "WaitForHttp", "WaitForCommand"];

    /// <summary>The profile named by Profile metadata, or matched by repository; none for a Dockerfile build or Profile="none".</summary>
    private static ImageProfile? ProfileFor(string reference, Func<string, string?> metadata)
    {
        string? asked = Blank(metadata("Profile"));
        if (Blank(metadata("Dockerfile")) is not null && asked is null)
        {
            return null;
        }
        ImageProfile? profile = ImageProfiles.Find(reference, asked);
        if (asked is not null && profile is null && !string.Equals(asked, ImageProfiles.None, StringComparison.OrdinalIgnoreCase))
        {
            throw Errors.InvalidImageMetadata(reference, "Profile", asked, "a known profile (" + string.Join(", ", ImageProfiles.All.Select(p => p.Name)) + ") or \"none\"");
        }
        return profile;
    }

    /// <summary>
    /// <paramref name="metadata"/> with the profile's values where the item gave none. Readiness is
    /// taken whole: an item that states any readiness condition gets none of the profile's.
    /// Environment is merged by name, the item's value winning.
    /// </summary>
    private static Func<string, string?> WithProfileDefaults(string reference, ImageProfile profile, Func<string, string?> metadata)
    {
        IReadOnlyList<KeyValuePair<string, string>> own = Pairs(reference, metadata("Env"), "Env");
        if (profile.RequiredOptIn is string optIn && !own.Any(p => p.Key == optIn))
        {
            throw Errors.ProfileNeedsOptIn(reference, profile.Name, optIn);
        }
        string env = MetadataList.Join(profile.Environment.Where(d => !own.Any(p => p.Key == d.Key)).Concat(own).Select(p => p.Key + "=" + p.Value));
        bool ownReadiness = ReadinessKeys.Any(k => Blank(metadata(k)) is not null);
        string? Default(string key) => key switch
        {
            "Port" => profile.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "MemoryMiB" => profile.MemoryMiB?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "Command" => profile.Command,
            "ConnectionString" => profile.ConnectionFormat,
            "WaitForLog" when !ownReadiness => profile.WaitForLog,
            "WaitForLogTimes" when !ownReadiness => profile.WaitForLogTimes?.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "WaitForHttp" when !ownReadiness => profile.WaitForHttp,
            "WaitForCommand" when !ownReadiness => profile.WaitForCommand,
            _ => null,
        };
        return key => key == "Env" ? env : Blank(metadata(key)) is not null ? metadata(key) : Default(key);
    }
}
