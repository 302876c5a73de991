using System.Globalization;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Wal;

/// <summary>One timeline of a recovery path: WAL from <see cref="Begin"/> (0: from the start) up to <see cref="End"/> (null: still open).</summary>
public sealed record TimelineSpan(uint Timeline, ulong Begin, ulong? End);

/// <summary>
/// A TTTTTTTT.history file as PostgreSQL writes it at promotion: one line per ancestor timeline,
/// "parent-TLI &lt;tab&gt; switch-LSN &lt;tab&gt; reason", oldest first. Together with the timeline itself it is the
/// path recovery follows to reach that timeline (readTimeLineHistory in PostgreSQL's timeline.c).
/// </summary>
public static class TimelineHistory
{
    /// <summary>The path to <paramref name="timeline"/>: its ancestors (each ending at its switch point), then itself, open-ended.</summary>
    public static IReadOnlyList<TimelineSpan> Parse(uint timeline, string text, string source)
    {
        var spans = new List<TimelineSpan>();
        ulong begin = 0;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var fields = line.Split((char[])['\t', ' '], 3, StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !uint.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out uint parent))
                throw new PgBackupException(FailureKind.InvalidData, $"{source} is not a timeline history file: '{line}'.", source);
            ulong end;
            try { end = Backup.Lsn.Parse(fields[1]); }
            catch (FormatException e) { throw new PgBackupException(FailureKind.InvalidData, $"{source} has a bad switch point: '{line}'.", source, e); }
            if (spans.Count > 0 && (parent <= spans[^1].Timeline || end < begin))
                throw new PgBackupException(FailureKind.InvalidData, $"{source} lists timelines out of order: '{line}'.", source);
            spans.Add(new TimelineSpan(parent, begin, end));
            begin = end;
        }
        if (spans.Count > 0 && spans[^1].Timeline >= timeline)
            throw new PgBackupException(FailureKind.InvalidData, $"{source} lists timeline {spans[^1].Timeline} as an ancestor of timeline {timeline}.", source);
        spans.Add(new TimelineSpan(timeline, begin, null));
        return spans;
    }
}
