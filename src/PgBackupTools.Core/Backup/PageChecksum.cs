using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace PgBackupTools.Core.Backup;

/// <summary>
/// PostgreSQL's data page checksum (pg_checksum_page in storage/checksum_impl.h): 32 interleaved FNV-1a-like sums
/// over the page with pd_checksum taken as zero, the block number mixed in, reduced to 1..65535. A file-copy backup
/// checks every page with it, as BASE_BACKUP does when the cluster has data checksums.
/// </summary>
internal static class PageChecksum
{
    private const int Sums = 32;
    private const uint FnvPrime = 16777619;
    private const int ChecksumOffset = 8; // pd_lsn (8 bytes), then pd_checksum

    private static readonly uint[] BaseOffsets =
    [
        0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
        0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
        0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
        0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756,
    ];

    /// <summary>The checksum the page should carry as block <paramref name="blockNumber"/> of its relation.</summary>
    public static ushort Compute(ReadOnlySpan<byte> page, uint blockNumber)
    {
        if (page.Length % (Sums * sizeof(uint)) != 0) throw new ArgumentException("A page is a multiple of 128 bytes.", nameof(page));
        var words = MemoryMarshal.Cast<byte, uint>(page);
        uint result = Vector256.IsHardwareAccelerated && BitConverter.IsLittleEndian ? BlockVector(words) : BlockScalar(words);
        return (ushort)((result ^ blockNumber) % 65535 + 1);
    }

    /// <summary>pd_checksum as stored in the page.</summary>
    public static ushort Stored(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[ChecksumOffset..]);

    /// <summary>pd_lsn: the page's last change; pages changed after the backup started are repaired by WAL replay, not checked.</summary>
    public static ulong PageLsn(ReadOnlySpan<byte> page) =>
        ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(page) << 32) | BinaryPrimitives.ReadUInt32LittleEndian(page[4..]);

    /// <summary>PageIsNew: pd_upper is zero (a page extended but never initialized carries no checksum).</summary>
    public static bool IsNew(ReadOnlySpan<byte> page) => BinaryPrimitives.ReadUInt16LittleEndian(page[14..]) == 0;

    // The word holding pd_checksum (bytes 8..9) counts as if those two bytes were zero.
    private static uint FirstRowWord(ReadOnlySpan<uint> words, int column) =>
        column == ChecksumOffset / sizeof(uint) ? words[column] & (BitConverter.IsLittleEndian ? 0xFFFF0000u : 0x0000FFFFu) : words[column];

    // Hot loops of a short-lived process: optimized at once rather than after tier-0 code ran them a while.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint BlockScalar(ReadOnlySpan<uint> words)
    {
        Span<uint> sums = stackalloc uint[Sums];
        BaseOffsets.CopyTo(sums);
        for (int row = 0; row < words.Length / Sums; row++)
            for (int column = 0; column < Sums; column++)
                sums[column] = Mix(sums[column], row == 0 ? FirstRowWord(words, column) : words[row * Sums + column]);
        uint result = 0;
        for (int column = 0; column < Sums; column++)
            result ^= Mix(Mix(sums[column], 0), 0);
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static uint Mix(uint sum, uint value)
    {
        uint t = sum ^ value;
        return t * FnvPrime ^ (t >> 17);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static uint BlockVector(ReadOnlySpan<uint> words)
    {
        var prime = Vector256.Create(FnvPrime);
        var offsets = BaseOffsets.AsSpan();
        Vector256<uint> s0 = Vector256.Create(offsets[..8]), s1 = Vector256.Create(offsets[8..16]), s2 = Vector256.Create(offsets[16..24]), s3 = Vector256.Create(offsets[24..]);
        Span<uint> first = stackalloc uint[Sums];
        for (int column = 0; column < Sums; column++) first[column] = FirstRowWord(words, column);
        int rows = words.Length / Sums;
        // Row 0 with pd_checksum zeroed, the page's other rows, then two rows of zeros for the final mixing.
        for (int row = 0; row < rows + 2; row++)
        {
            var r = row == 0 ? first : row < rows ? words.Slice(row * Sums, Sums) : default;
            Vector256<uint> v0, v1, v2, v3;
            if (r.IsEmpty) v0 = v1 = v2 = v3 = Vector256<uint>.Zero;
            else { v0 = Vector256.Create(r[..8]); v1 = Vector256.Create(r[8..16]); v2 = Vector256.Create(r[16..24]); v3 = Vector256.Create(r[24..]); }
            s0 = MixVector(s0, v0, prime);
            s1 = MixVector(s1, v1, prime);
            s2 = MixVector(s2, v2, prime);
            s3 = MixVector(s3, v3, prime);
        }
        var folded = s0 ^ s1 ^ s2 ^ s3;
        uint result = 0;
        for (int i = 0; i < Vector256<uint>.Count; i++) result ^= folded.GetElement(i);
        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> MixVector(Vector256<uint> sum, Vector256<uint> value, Vector256<uint> prime)
    {
        var t = sum ^ value;
        return (t * prime) ^ Vector256.ShiftRightLogical(t, 17);
    }
}
