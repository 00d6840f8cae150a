namespace Supermachine.Dockerfile.Building;

/// <summary>Applies a <c>--chmod</c> value: octal (<c>755</c>) or symbolic clauses (<c>u+x,go-w</c>), as chmod(1) does.</summary>
internal static class ChmodSpec
{
    public static int Apply(string spec, int mode, bool isDirectory)
    {
        if (spec.All(char.IsAsciiDigit))
        {
            return Convert.ToInt32(spec, 8);
        }
        foreach (string clause in spec.Split(','))
        {
            int op = clause.IndexOfAny(['+', '-', '=']);
            string who = clause[..op];
            int mask = who.Length == 0 || who.Contains('a') ? 0xFFF : (who.Contains('u') ? 0x9C0 : 0) | (who.Contains('g') ? 0x438 : 0) | (who.Contains('o') ? 0x207 : 0);
            int bits = 0;
            foreach (char p in clause[(op + 1)..])
            {
                bits |= p switch
                {
                    'r' => 0x124,
                    'w' => 0x92,
                    'x' => 0x49,
                    'X' when isDirectory || (mode & 0x49) != 0 => 0x49,
                    's' => 0xC00,
                    't' => 0x200,
                    _ => 0,
                };
            }
            bits &= mask;
            mode = clause[op] switch
            {
                '+' => mode | bits,
                '-' => mode & ~bits,
                _ => (mode & ~(mask & 0x1FF)) | bits,
            };
        }
        return mode;
    }
}
