using System.Globalization;
using System.Text;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// POSIX ustar headers as pg_basebackup writes them (so the base tar is one format whichever way it was made, and
/// `tar x` reads it): 512-byte blocks, octal fields, sizes past 8 GiB in base-256, paths past ustar's 100+155
/// characters in a pax 'x' record.
/// </summary>
internal static class TarHeader
{
    public const int BlockSize = 512;

    /// <summary>Writes the header(s) of one entry into <paramref name="output"/>: 512 bytes, or 1536+ with a pax record.</summary>
    public static void Write(Stream output, string path, bool isDirectory, long size, UnixFileMode mode, DateTimeOffset modified)
    {
        string name = isDirectory ? path + "/" : path;
        Span<byte> block = stackalloc byte[BlockSize];
        if (!TrySplit(name, out string prefix, out string shortName))
        {
            byte[] record = PaxRecord("path", name);
            Fill(block, "././@PaxHeader", record.Length, UnixFileMode.UserRead | UnixFileMode.UserWrite, modified, 'x', "");
            output.Write(block);
            output.Write(record);
            WritePadding(output, record.Length);
            prefix = "";
            shortName = name[..Math.Min(name.Length, 100)];
        }
        Fill(block, shortName, isDirectory ? 0 : size, mode, modified, isDirectory ? '5' : '0', prefix);
        output.Write(block);
    }

    /// <summary>Zeros up to the next 512-byte boundary after <paramref name="length"/> bytes of content.</summary>
    public static void WritePadding(Stream output, long length)
    {
        int pad = (int)((BlockSize - length % BlockSize) % BlockSize);
        if (pad > 0) output.Write(new byte[pad]);
    }

    /// <summary>The end of the archive: two zero blocks.</summary>
    public static void WriteEnd(Stream output) => output.Write(new byte[2 * BlockSize]);

    private static void Fill(Span<byte> block, string name, long size, UnixFileMode mode, DateTimeOffset modified, char type, string prefix)
    {
        block.Clear();
        Ascii(block[..100], name);
        Octal(block.Slice(100, 8), (long)mode & 0x1FF);
        Octal(block.Slice(108, 8), 0);
        Octal(block.Slice(116, 8), 0);
        if (size < 1L << 33) Octal(block.Slice(124, 12), size);
        else Base256(block.Slice(124, 12), size);
        Octal(block.Slice(136, 12), Math.Max(0, modified.ToUnixTimeSeconds()));
        block[156] = (byte)type;
        Encoding.ASCII.GetBytes("ustar\0").CopyTo(block[257..]);
        block[263] = (byte)'0';
        block[264] = (byte)'0';
        Ascii(block.Slice(265, 32), "postgres");
        Ascii(block.Slice(297, 32), "postgres");
        Ascii(block.Slice(345, 155), prefix);
        block.Slice(148, 8).Fill((byte)' ');
        int sum = 0;
        foreach (byte b in block) sum += b;
        Octal(block.Slice(148, 7), sum);
    }

    /// <summary>ustar keeps up to 155 characters of directories in 'prefix' and the last 100 in 'name'.</summary>
    private static bool TrySplit(string name, out string prefix, out string shortName)
    {
        prefix = "";
        shortName = name;
        if (Encoding.UTF8.GetByteCount(name) != name.Length) return false; // non-ASCII: pax keeps it exact
        if (name.Length <= 100) return true;
        for (int i = name.IndexOf('/'); i >= 0 && i < name.Length - 1; i = name.IndexOf('/', i + 1))
        {
            if (i <= 155 && name.Length - i - 1 <= 100)
            {
                prefix = name[..i];
                shortName = name[(i + 1)..];
                return true;
            }
        }
        return false;
    }

    // "<length> path=<value>\n", where <length> counts the whole record, its own digits included.
    private static byte[] PaxRecord(string key, string value)
    {
        int body = Encoding.UTF8.GetByteCount($" {key}={value}\n");
        int length = body + 1;
        while (length.ToString(CultureInfo.InvariantCulture).Length + body != length) length++;
        return Encoding.UTF8.GetBytes($"{length} {key}={value}\n");
    }

    private static void Ascii(Span<byte> field, string text) => Encoding.ASCII.GetBytes(text.AsSpan(0, Math.Min(text.Length, field.Length)), field);

    // Zero-padded octal, NUL-terminated, as wide as the field allows.
    private static void Octal(Span<byte> field, long value)
    {
        string digits = Convert.ToString(value, 8).PadLeft(field.Length - 1, '0');
        Encoding.ASCII.GetBytes(digits, field);
        field[^1] = 0;
    }

    private static void Base256(Span<byte> field, long value)
    {
        for (int i = field.Length - 1; i > 0; i--, value >>= 8) field[i] = (byte)value;
        field[0] = 0x80;
    }
}
