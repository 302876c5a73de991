using System.Buffers.Binary;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Wal;

/// <summary>
/// The fixed header in front of every archived WAL object. It carries a digest and the size of the raw file, so that
/// (a) a re-push after a crash — the common case — is settled by reading the header, without decompressing anything,
/// (b) the comparison is on raw bytes, independent of the compressor's version or level, and
/// (c) the digest is committed in the same atomic write as the data: there is no sidecar that can go missing.
/// Object stores' metadata would do (a) too, but the file store has none, so one format serves every store.
/// <code>
///  0  8 bytes  "PGBTWAL" 0x01    magic and format version
///  8  1 byte   compression       0 none, 1 gzip, 2 zstd, 3 lz4 (CompressionKind)
///  9  1 byte   flags             bit 0: encrypted (the body is a format-1 encrypted stream, the digest an HMAC); other bits 0
/// 10  6 bytes  zero              reserved
/// 16  8 bytes  raw size          uint64 little-endian
/// 24 32 bytes  digest            unencrypted: SHA-256 of the raw WAL file;
///                                encrypted: HMAC-SHA256(HKDF(master key, "pgbt wal hmac v1"), raw WAL file)
/// 56  ...      body              unencrypted: the raw file, compressed (zstd: one frame or several concatenated);
///                                encrypted: the compressed file, encrypted (docs/encryption-format.md section 2);
///                                its own 56-byte header, at object offset 56, carries the key id at offset 72
/// </code>
/// Without the tool: <c>tail -c +57 000000010000000000000003.zst | zstd -d &gt; 000000010000000000000003</c>
/// (encrypted: decrypt <c>tail -c +57</c> with the recipe of docs/encryption-format.md, then <c>zstd -d</c>).
/// In an encrypted repository the plain SHA-256 is never stored: it would let anyone who can list the repository
/// test a guess of a segment's content. The HMAC is deterministic under the repository key, so a re-push is still
/// settled by comparing 32 bytes.
/// </summary>
public sealed record WalObjectHeader(CompressionKind Compression, long RawSize, byte[] Digest, bool Encrypted = false)
{
    public const int Length = 56;
    public const byte EncryptedFlag = 0x01;
    private static ReadOnlySpan<byte> Magic => "PGBTWAL\x01"u8;

    /// <summary>The digest in lower-case hex: a SHA-256 for an unencrypted object, an HMAC-SHA256 for an encrypted one.</summary>
    public string DigestHex => Convert.ToHexString(Digest).ToLowerInvariant();

    /// <summary>What the digest is, for messages.</summary>
    public string DigestName => Encrypted ? "HMAC-SHA256" : "SHA-256";

    /// <summary>For an encrypted object read from the archive: the key id (hex) in the header of its encrypted body.</summary>
    public string? KeyId { get; init; }

    public byte[] ToBytes()
    {
        var bytes = new byte[Length];
        Magic.CopyTo(bytes);
        bytes[8] = (byte)Compression;
        bytes[9] = Encrypted ? EncryptedFlag : (byte)0;
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(16), (ulong)RawSize);
        Digest.CopyTo(bytes, 24);
        return bytes;
    }

    public static WalObjectHeader Parse(ReadOnlySpan<byte> bytes, string key)
    {
        // Unknown flag bits or non-zero reserved bytes are refused: a reader must not guess what a newer writer meant.
        if (bytes.Length < Length || !bytes[..8].SequenceEqual(Magic) || bytes[8] > (byte)CompressionKind.Lz4
            || (bytes[9] & ~EncryptedFlag) != 0 || bytes[10..16].IndexOfAnyExcept((byte)0) >= 0)
            throw new PgBackupException(FailureKind.InvalidData,
                $"The archived WAL object '{key}' has no valid PgBackupTools header: it was damaged or not written by PgBackupTools. " +
                "It is left as it is; check the storage, and take a new base backup if the WAL is lost.", key);
        return new WalObjectHeader((CompressionKind)bytes[8], (long)BinaryPrimitives.ReadUInt64LittleEndian(bytes[16..]), bytes.Slice(24, 32).ToArray(),
            (bytes[9] & EncryptedFlag) != 0);
    }

    /// <summary>Reads the header, and for an encrypted object also the key id from the encrypted body's header that follows it.</summary>
    public static async Task<WalObjectHeader> ReadAsync(Stream stream, string key, CancellationToken cancellationToken)
    {
        var buffer = new byte[Length];
        int read = await stream.ReadAtLeastAsync(buffer, Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        return Parse(buffer.AsSpan(0, read), key);
    }

    /// <summary>
    /// Reads the header and, for an encrypted object, the key id from the encrypted body's own header after it
    /// (object bytes 72..79). Consumes up to 112 bytes: for a lookup, not for a stream that is decrypted next.
    /// </summary>
    public static async Task<WalObjectHeader> ReadWithKeyIdAsync(Stream stream, string key, CancellationToken cancellationToken)
    {
        var header = await ReadAsync(stream, key, cancellationToken).ConfigureAwait(false);
        if (!header.Encrypted) return header;
        var body = new byte[BodyHeaderLength];
        int read = await stream.ReadAtLeastAsync(body, body.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
        if (read < BodyHeaderLength || !body.AsSpan(0, 8).SequenceEqual("PGBT-ENC"u8))
            throw new PgBackupException(FailureKind.InvalidData,
                $"The archived WAL object '{key}' is marked encrypted but its body has no PgBackupTools encryption header: it was damaged. " +
                "It is left as it is; check the storage.", key);
        return header with { KeyId = Convert.ToHexString(body, BodyKeyIdOffset, BodyKeyIdLength).ToLowerInvariant() };
    }

    // The encrypted body's own header (docs/encryption-format.md, section 2): 56 bytes, key id at offset 16.
    private const int BodyKeyIdOffset = 16, BodyKeyIdLength = 8, BodyHeaderLength = 56;
}
