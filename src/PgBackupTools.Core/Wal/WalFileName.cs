using System.Globalization;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Wal;

/// <summary>What kind of file PostgreSQL hands to archive_command / asks of restore_command.</summary>
public enum WalFileKind { Segment, Partial, History, BackupLabel }

/// <summary>
/// A WAL file name as PostgreSQL makes it, parsed and checked. Only these four shapes are accepted, so a name can be
/// used as a path segment in the repository and in pg_wal without further escaping ('../x' and garbage are refused):
/// <c>TTTTTTTTLLLLLLLLSSSSSSSS</c>, <c>…SSSSSSSS.partial</c>, <c>…SSSSSSSS.OOOOOOOO.backup</c>, <c>TTTTTTTT.history</c>.
/// </summary>
public sealed record WalFileName(string Name, WalFileKind Kind, uint Timeline, uint Log, uint Seg)
{
    /// <summary>The timeline as the repository folder names it: 8 upper-case hex digits.</summary>
    public string TimelineDirectory => Timeline.ToString("X8", CultureInfo.InvariantCulture);

    /// <summary>The 24-character segment name this file belongs to (null for a history file).</summary>
    public string? SegmentName => Kind == WalFileKind.History ? null : Name[..24];

    /// <summary>The name of this segment's .partial file (the WAL stream's open segment; PostgreSQL's last segment of a timeline at promotion).</summary>
    public WalFileName AsPartial() => Kind == WalFileKind.Segment
        ? new WalFileName(Name + ".partial", WalFileKind.Partial, Timeline, Log, Seg)
        : throw new InvalidOperationException($"{Name} is not a segment name.");

    public static bool TryParse(string? name, out WalFileName result)
    {
        result = null!;
        if (name is null) return false;
        if (name.Length == 16 && name.EndsWith(".history", StringComparison.Ordinal) && IsHex(name.AsSpan(0, 8)))
        {
            result = new WalFileName(name, WalFileKind.History, Hex(name, 0), 0, 0);
            return result.Timeline != 0;
        }
        if (name.Length < 24 || !IsHex(name.AsSpan(0, 24))) return false;
        WalFileKind kind;
        if (name.Length == 24) kind = WalFileKind.Segment;
        else if (name.Length == 32 && name.EndsWith(".partial", StringComparison.Ordinal)) kind = WalFileKind.Partial;
        else if (name.Length == 40 && name[24] == '.' && IsHex(name.AsSpan(25, 8)) && name.EndsWith(".backup", StringComparison.Ordinal)) kind = WalFileKind.BackupLabel;
        else return false;
        result = new WalFileName(name, kind, Hex(name, 0), Hex(name, 8), Hex(name, 16));
        return result.Timeline != 0;
    }

    public static WalFileName Parse(string? name) => TryParse(name, out var result)
        ? result
        : throw new PgBackupException(FailureKind.InvalidArgument,
            $"'{name}' is not a WAL file name: expected a segment (24 hex digits), a .partial, .backup or .history file as PostgreSQL names them in pg_wal.", name);

    /// <summary>The absolute segment number (as XLogSegNo) for a given segment size.</summary>
    public ulong SegmentNumber(long segmentSize) => (ulong)Log * SegmentsPerLogId(segmentSize) + Seg;

    public static ulong SegmentsPerLogId(long segmentSize) => 0x1_0000_0000UL / (ulong)segmentSize;

    /// <summary>The segment file name of <paramref name="segmentNumber"/> on <paramref name="timeline"/> (XLogFileName).</summary>
    public static string SegmentFileName(uint timeline, ulong segmentNumber, long segmentSize)
    {
        ulong perId = SegmentsPerLogId(segmentSize);
        return string.Create(CultureInfo.InvariantCulture, $"{timeline:X8}{(uint)(segmentNumber / perId):X8}{(uint)(segmentNumber % perId):X8}");
    }

    /// <summary>True when the segment part is possible for this segment size (PostgreSQL never makes SSSSSSSS ≥ 2^32 / size).</summary>
    public bool FitsSegmentSize(long segmentSize) => Kind == WalFileKind.History || Seg < SegmentsPerLogId(segmentSize);

    private static bool IsHex(ReadOnlySpan<char> s)
    {
        foreach (var c in s) if (!(c is >= '0' and <= '9' or >= 'A' and <= 'F')) return false;
        return true;
    }

    private static uint Hex(string s, int start) => uint.Parse(s.AsSpan(start, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    public override string ToString() => Name;
}
