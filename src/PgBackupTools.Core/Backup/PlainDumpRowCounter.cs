using System.Text;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// Counts the rows of every table in a plain pg_dump stream as it passes: the lines between
/// "COPY schema.table (...) FROM stdin;" and "\." are one row each (COPY text format escapes newlines and
/// backslashes inside values, so no data line can be "\."). This counts what the dump really holds, and costs a
/// vectorised newline scan instead of a second full read of every table on the server.
/// </summary>
public sealed class PlainDumpRowCounter
{
    private const int MaxHeaderLength = 1 << 20;
    private static readonly byte[] CopyPrefix = "COPY "u8.ToArray();
    private static readonly byte[] CopySuffix = " FROM stdin;"u8.ToArray();

    private readonly Dictionary<string, long> _counts = new(StringComparer.Ordinal);
    private readonly List<byte> _line = [];
    private bool _lineOverflow;
    private string? _table;
    private long _rows;

    /// <summary>Rows per table, keyed by the name as pg_dump quoted it (schema.table, quoted where needed, as format('%I.%I') does).</summary>
    public IReadOnlyDictionary<string, long> Counts => _counts;

    public void Observe(ReadOnlySpan<byte> data)
    {
        while (!data.IsEmpty)
        {
            int newline = data.IndexOf((byte)'\n');
            var piece = newline < 0 ? data : data[..newline];
            if (_table is not null)
            {
                // Inside a COPY block only the start of a line matters: keep at most three bytes of it.
                if (_line.Count < 3) foreach (var b in piece[..Math.Min(piece.Length, 3 - _line.Count)]) _line.Add(b);
                if (piece.Length > 3) _lineOverflow = true;
            }
            else if (_line.Count + piece.Length <= MaxHeaderLength && (_line.Count > 0 || piece.IsEmpty || piece[0] == (byte)'C'))
            {
                foreach (var b in piece) _line.Add(b);
            }
            else
            {
                _lineOverflow = true;
            }
            if (newline < 0) return;
            EndLine();
            data = data[(newline + 1)..];
        }
    }

    private void EndLine()
    {
        if (_table is not null)
        {
            if (!_lineOverflow && _line.Count == 2 && _line[0] == (byte)'\\' && _line[1] == (byte)'.')
            {
                _counts[_table] = _rows;
                _table = null;
            }
            else
            {
                _rows++;
            }
        }
        else if (!_lineOverflow && _line.Count > CopyPrefix.Length + CopySuffix.Length)
        {
            var line = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_line);
            if (line.StartsWith(CopyPrefix) && line.EndsWith(CopySuffix))
            {
                _table = TableName(Encoding.UTF8.GetString(line[CopyPrefix.Length..]));
                _rows = 0;
            }
        }
        _line.Clear();
        _lineOverflow = false;
    }

    /// <summary>The qualified name at the start of "schema.table (col, ...) FROM stdin;": up to the first space outside double quotes.</summary>
    private static string TableName(string rest)
    {
        bool quoted = false;
        for (int i = 0; i < rest.Length; i++)
        {
            if (rest[i] == '"') quoted = !quoted;
            else if (rest[i] == ' ' && !quoted) return rest[..i];
        }
        return rest;
    }
}
