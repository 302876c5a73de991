using System.Buffers.Binary;
using PgBackupTools.Core.Errors;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The long page header at the start of every WAL segment (XLogLongPageHeaderData in access/xlog_internal.h), read so
/// that a push knows which cluster a segment comes from without a database connection. Layout (little-endian on every
/// platform PostgreSQL ships for; the struct is MAXALIGNed, so the standard header is padded from 20 to 24 bytes):
/// <code>
///  0 uint16 xlp_magic      2 uint16 xlp_info (XLP_LONG_HEADER = 0x0002)   4 uint32 xlp_tli
///  8 uint64 xlp_pageaddr  16 uint32 xlp_rem_len  (20..23 padding)
/// 24 uint64 xlp_sysid     32 uint32 xlp_seg_size  36 uint32 xlp_xlog_blcksz
/// </code>
/// (Checked against pg_control_system().system_identifier of a real PostgreSQL 15 cluster in WalArchiveTests.)
/// </summary>
public sealed record WalPageHeader(ushort Magic, uint Timeline, ulong PageAddress, ulong SystemIdentifier, uint SegmentSize, uint BlockSize)
{
    public const int Length = 40;
    private const ushort LongHeaderFlag = 0x0002;

    /// <summary>The major version whose XLOG_PAGE_MAGIC this is, or null when this build does not know it.</summary>
    public int? PostgresMajorVersion => Magic switch
    {
        0xD101 => 12, 0xD106 => 13, 0xD10D => 14, 0xD110 => 15, 0xD113 => 16, 0xD116 => 17, 0xD118 => 18, _ => null,
    };

    public static WalPageHeader Parse(ReadOnlySpan<byte> first, string file)
    {
        if (first.Length < Length)
            throw Damaged(file, $"it is only {first.Length} bytes long");
        ushort info = BinaryPrimitives.ReadUInt16LittleEndian(first[2..]);
        if ((info & LongHeaderFlag) == 0)
            throw Damaged(file, "its first page has no long header");
        var header = new WalPageHeader(
            BinaryPrimitives.ReadUInt16LittleEndian(first),
            BinaryPrimitives.ReadUInt32LittleEndian(first[4..]),
            BinaryPrimitives.ReadUInt64LittleEndian(first[8..]),
            BinaryPrimitives.ReadUInt64LittleEndian(first[24..]),
            BinaryPrimitives.ReadUInt32LittleEndian(first[32..]),
            BinaryPrimitives.ReadUInt32LittleEndian(first[36..]));
        // wal_segment_size is a power of two from 1 MiB to 1 GiB; XLOG_BLCKSZ a power of two from 1 to 64 kB.
        if (header.SegmentSize < (1u << 20) || header.SegmentSize > (1u << 30) || !uint.IsPow2(header.SegmentSize) ||
            header.BlockSize < 1024 || header.BlockSize > 65536 || !uint.IsPow2(header.BlockSize) || header.SystemIdentifier == 0)
            throw Damaged(file, $"its long page header is implausible (segment size {header.SegmentSize}, block size {header.BlockSize})");
        return header;
    }

    private static PgBackupException Damaged(string file, string why) => new(FailureKind.InvalidData,
        $"'{file}' is not a valid WAL segment: {why}. PostgreSQL archives only complete segments; check the path given to archive_command (%p).", file);
}
