using System.Text;
using PgBackupTools.Core.Backup;

namespace PgBackupTools.Core.Tests.Backup;

public class PlainDumpRowCounterTests
{
    private const string Dump = """
        --
        -- PostgreSQL database dump
        --
        SET statement_timeout = 0;
        CREATE TABLE public.t (a text);
        COPY public.audit_events (id, statement) FROM stdin;
        1	SELECT 1 \\. not an end \n still row one
        2	\\.
        3	COPY public.fake (x) FROM stdin;
        \.

        COPY "we""ird; schema"."a table" (x) FROM stdin;
        \.

        COPY public.big (x) FROM stdin;
        a
        b
        \.
        -- COPY public.comment (x) FROM stdin;

        """;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(7)]
    [InlineData(4096)]
    public void Counts_rows_of_each_copy_block_whatever_the_buffer_boundaries(int chunk)
    {
        var bytes = Encoding.UTF8.GetBytes(Dump.Replace("\r\n", "\n"));
        var counter = new PlainDumpRowCounter();
        for (int i = 0; i < bytes.Length; i += chunk) counter.Observe(bytes.AsSpan(i, Math.Min(chunk, bytes.Length - i)));
        Assert.Equal(3, counter.Counts["public.audit_events"]);
        Assert.Equal(0, counter.Counts["\"we\"\"ird; schema\".\"a table\""]);
        Assert.Equal(2, counter.Counts["public.big"]);
        Assert.Equal(3, counter.Counts.Count);
    }
}
