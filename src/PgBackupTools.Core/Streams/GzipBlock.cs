using System.Buffers.Binary;

namespace PgBackupTools.Core.Streams;

/// <summary>
/// One block of a parallel gzip stream: a slice of the input, compressed on a worker into raw deflate data that ends
/// with a sync flush (byte-aligned, not final), plus the CRC-32 of the slice. Concatenating blocks in order gives one
/// valid deflate stream. Reused: the compressor owns a fixed set of these, which is what bounds its memory.
/// </summary>
internal sealed class GzipBlock(int capacity, int level) : CompressionBlock(capacity)
{
    private const int GzipHeaderLength = 10;
    private const int GzipTrailerLength = 8;

    private readonly MemoryStream _compressed = new(capacity + capacity / 64 + 1024);

    /// <summary>Valid once <see cref="ParallelBlock.Done"/> completed successfully.</summary>
    public uint Crc32 { get; private set; }

    protected override void Process() => Compress(level);

    // We let zlib write a complete gzip member of the slice, sync-flushed before its end, and keep the deflate data up
    // to the flush; the member's trailer gives us the slice's CRC-32. That is zlib's own (vectorised) CRC, computed in
    // the same pass, without a second read of the data or another dependency. The shape of zlib's output is checked,
    // never assumed.
    private void Compress(int level)
    {
        _compressed.SetLength(0);
        long flushedAt;
        using (var gzip = GzipLevel.OpenCompressor(_compressed, level))
        {
            gzip.Write(Input, 0, Length);
            gzip.Flush(); // Z_SYNC_FLUSH: ends on a byte boundary with 00 00 FF FF, no final block
            flushedAt = _compressed.Length;
        }
        var member = new ReadOnlySpan<byte>(_compressed.GetBuffer(), 0, checked((int)_compressed.Length));
        bool wellFormed = member.Length >= flushedAt + GzipTrailerLength
            && flushedAt >= GzipHeaderLength + 4
            && member[0] == 0x1F && member[1] == 0x8B && member[2] == 8 && member[3] == 0 // deflate, no optional fields
            && member.Slice((int)flushedAt - 4, 4).SequenceEqual((ReadOnlySpan<byte>)[0x00, 0x00, 0xFF, 0xFF])
            && BinaryPrimitives.ReadUInt32LittleEndian(member[^4..]) == (uint)Length;
        if (!wellFormed)
            throw new InvalidDataException("zlib produced a gzip member of an unexpected shape; cannot join it into a parallel gzip stream.");
        Crc32 = BinaryPrimitives.ReadUInt32LittleEndian(member[^8..]);
        Output = new ReadOnlyMemory<byte>(_compressed.GetBuffer(), GzipHeaderLength, (int)flushedAt - GzipHeaderLength);
    }
}
