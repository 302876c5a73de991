using System.Buffers.Binary;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The fixed header in front of every archived WAL object. It carries the SHA-256 and size of the raw file, so that
/// (a) a re-push after a crash — the common case — is settled by reading 56 bytes, without decompressing anything,
/// (b) the comparison is on raw bytes, independent of the compressor's version or level, and
/// (c) the checksum is committed in the same atomic write as the data: there is no sidecar that can go missing.
/// Object stores' metadata would do (a) too, but the file store has none, so one format serves every store.
/// <code>
///  0  8 bytes  "PGBTWAL" 0x01    magic and format version
///  8  1 byte   compression       0 none, 1 gzip, 2 zstd, 3 lz4 (CompressionKind)
///  9  7 bytes  zero              reserved
/// 16  8 bytes  raw size          uint64 little-endian
/// 24 32 bytes  SHA-256           of the raw WAL file
/// 56  ...      the raw file, compressed
/// </code>
/// Without the tool: <c>tail -c +57 000000010000000000000003.zst | zstd -d &gt; 000000010000000000000003</c>.
/// (With repository encryption the body after the header will be the encrypted stream; the hook is in WalArchive.)
/// </summary>
public sealed record WalObjectHeader(CompressionKind Compression, long RawSize, byte[] Sha256)
{
    public const int Length = 56;
    private static ReadOnlySpan<byte> Magic => "PGBTWAL\x01"u8;

    public string Sha256Hex => Convert.ToHexString(Sha256).ToLowerInvariant();

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        Magic.CopyTo(bytes);
        bytes[8] = (byte)Compression;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), (ulong)RawSize);
        Sha256.CopyTo(bytes, 24);
        return bytes;
    }

    public static WalObjectHeader Parse(ReadOnlySpan<byte> bytes, string key)
    {
        if (bytes.Length < Length || !bytes[..8].SequenceEqual(Magic) || bytes[8] > (byte)CompressionKind.Lz4)
            throw new PgBackupException(FailureKind.InvalidData,
                $"The archived WAL object '{key}' has no valid PgBackupTools header: it was damaged or not written by PgBackupTools. " +
                "It is left as it is; check the storage, and take a new base backup if the WAL is lost.", key);
        return new WalObjectHeader((CompressionKind)bytes[8], (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]), bytes.Slice(24, 32).ToArray());
    }

    public static async Task<WalObjectHeader> ReadAsync(Stream stream, string key, CancellationToken cancellationToken)
    {
        var buffer = new byte[Length];
        int read = await stream.ReadAtLeastAsync(buffer, Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return Parse(buffer.AsSpan(0, read), key);
    }
}
