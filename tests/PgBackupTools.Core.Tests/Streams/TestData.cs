using System.Text;

namespace PgBackupTools.Core.Tests.Streams;

/// <summary>Inputs for stream tests: random bytes (incompressible) and SQL-dump-like text (compressible).</summary>
internal static class TestData
{
    public static byte[] Random(int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Lines shaped like a COPY block of pg_dump's plain output.</summary>
    public static byte[] DumpText(int length, int seed = 2)
    {
        var random = new Random(seed);
        string[] apps = ["billing", "crm", "reporting", "etl"];
        string[] verdicts = ["allow", "review", "deny"];
        var text = new StringBuilder(length + 256);
        text.Append("COPY public.audit_events (id, occurred_at, app, db_user, statement, verdict) FROM stdin;\n");
        for (long id = 1; text.Length < length; id++)
        {
            text.Append(id).Append('\t')
                .Append("2026-11-").Append(random.Next(10, 29)).Append(' ').Append(random.Next(10, 24)).Append(":0")
                .Append(random.Next(0, 10)).Append(":1").Append(random.Next(0, 10)).Append("+00\t")
                .Append(apps[random.Next(apps.Length)]).Append("\tuser_").Append(random.Next(1000)).Append('\t')
                .Append("UPDATE t_").Append(random.Next(300)).Append(" SET amount = now() WHERE id = ")
                .Append(random.Next(10_000_000)).Append('\t')
                .Append(verdicts[random.Next(verdicts.Length)]).Append('\n');
        }
        return Encoding.ASCII.GetBytes(text.ToString(0, length));
    }

    /// <summary>Writes <paramref name="data"/> in odd-sized chunks (1 byte up to a little over 64 KiB), the way a pipe delivers it.</summary>
    public static void WriteInOddChunks(Stream destination, ReadOnlySpan<byte> data)
    {
        int[] sizes = [1, 7, 4093, 3, 65537, 511, 1 << 20, 13];
        for (int i = 0, offset = 0; offset < data.Length; i++)
        {
            int n = Math.Min(sizes[i % sizes.Length], data.Length - offset);
            if (n == 1 && i % 2 == 0)
                destination.WriteByte(data[offset]);
            else if (i % 3 == 0)
                destination.Write(data.Slice(offset, n).ToArray(), 0, n);
            else
                destination.Write(data.Slice(offset, n));
            offset += n;
        }
    }

    public static async Task WriteInOddChunksAsync(Stream destination, ReadOnlyMemory<byte> data)
    {
        int[] sizes = [1, 7, 4093, 3, 65537, 511, 1 << 20, 13];
        for (int i = 0, offset = 0; offset < data.Length; i++)
        {
            int n = Math.Min(sizes[i % sizes.Length], data.Length - offset);
            if (i % 3 == 0)
                await destination.WriteAsync(data.Slice(offset, n).ToArray(), 0, n);
            else
                await destination.WriteAsync(data.Slice(offset, n));
            offset += n;
        }
    }

    public static byte[] ReadAll(Stream source)
    {
        var all = new MemoryStream();
        var buffer = new byte[12_345];
        int n;
        while ((n = source.Read(buffer, 0, buffer.Length)) > 0)
            all.Write(buffer, 0, n);
        return all.ToArray();
    }
}
