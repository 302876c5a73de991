using System.Buffers.Binary;
using System.Security.Cryptography;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// The constants and byte-level constructions of encrypted stream format 1, in one place.
/// docs/encryption-format.md describes the same layout for people; keep the two in step.
/// </summary>
internal static class EncryptionFormat
{
    /// <summary>"PGBT-ENC": the first 8 bytes of every encrypted file.</summary>
    public static ReadOnlySpan<byte> Magic => "PGBT-ENC"u8;

    public const byte Version = 1;

    /// <summary>Algorithm 1: file key = HKDF-SHA256(master, file salt, "pgbt file v1"); AES-256-GCM chunks.</summary>
    public const byte AlgorithmAes256Gcm = 1;

    public const int MagicOffset = 0;
    public const int VersionOffset = 8;
    public const int AlgorithmOffset = 9;
    public const int ReservedOffset = 10;
    public const int ChunkSizeOffset = 12;
    public const int KeyIdOffset = 16;
    public const int FileSaltOffset = 24;
    public const int HeaderSize = 56;

    public const int KeyIdSize = 8;
    public const int FileSaltSize = 32;
    public const int KeySize = 32;
    public const int NonceSize = 12;
    public const int TagSize = 16;

    /// <summary>AAD = header (56) || chunk index (8, big-endian) || final flag (1).</summary>
    public const int AadSize = HeaderSize + 8 + 1;

    public const int DefaultChunkSize = 1024 * 1024;
    public const int MinChunkSize = 16;
    public const int MaxChunkSize = 16 * 1024 * 1024;

    public static ReadOnlySpan<byte> FileKeyInfo => "pgbt file v1"u8;
    public static ReadOnlySpan<byte> KeyCheckInfo => "pgbt key check v1"u8;

    public const int KeyCheckSize = 32;
    public const int MinKdfSaltSize = 16;
    public const int KdfSaltSize = 32;

    /// <summary>Writes a format-1 header into <paramref name="header"/> (exactly <see cref="HeaderSize"/> bytes).</summary>
    public static void WriteHeader(Span<byte> header, int chunkSize, ReadOnlySpan<byte> keyId, ReadOnlySpan<byte> fileSalt)
    {
        header = header[..HeaderSize];
        Magic.CopyTo(header);
        header[VersionOffset] = Version;
        header[AlgorithmOffset] = AlgorithmAes256Gcm;
        header[ReservedOffset] = 0;
        header[ReservedOffset + 1] = 0;
        BinaryPrimitives.WriteUInt32BigEndian(header[ChunkSizeOffset..], (uint)chunkSize);
        keyId.CopyTo(header.Slice(KeyIdOffset, KeyIdSize));
        fileSalt.CopyTo(header.Slice(FileSaltOffset, FileSaltSize));
    }

    /// <summary>
    /// Checks a header read from untrusted input and returns its chunk size. The header is only
    /// authenticated later, by chunk 0's tag (every chunk's AAD holds the whole header); this check
    /// only refuses what cannot be format 1 and bounds the memory a reader allocates.
    /// </summary>
    public static int ValidateHeader(ReadOnlySpan<byte> header, ReadOnlySpan<byte> expectedKeyId, string expectedKeyIdHex)
    {
        if (!header[..Magic.Length].SequenceEqual(Magic))
            throw new EncryptedDataException(EncryptedDataReason.BadHeader, null,
                "This is not PgBackupTools encrypted data: it does not start with \"PGBT-ENC\".");
        byte version = header[VersionOffset];
        if (version != Version)
            throw new EncryptedDataException(EncryptedDataReason.UnsupportedVersion, null,
                $"The encrypted data uses format version {version}, which this version of PgBackupTools cannot read " +
                $"(it reads version {Version}). Use a PgBackupTools version that supports format {version}.");
        byte algorithm = header[AlgorithmOffset];
        if (algorithm != AlgorithmAes256Gcm)
            throw new EncryptedDataException(EncryptedDataReason.UnsupportedVersion, null,
                $"The encrypted data uses algorithm {algorithm}, which this version of PgBackupTools cannot read " +
                $"(it reads algorithm {AlgorithmAes256Gcm}, AES-256-GCM).");
        if (header[ReservedOffset] != 0 || header[ReservedOffset + 1] != 0)
            throw new EncryptedDataException(EncryptedDataReason.BadHeader, null,
                "The header of the encrypted data is invalid (reserved bytes are not zero): it was altered or damaged.");
        uint chunkSize = BinaryPrimitives.ReadUInt32BigEndian(header[ChunkSizeOffset..]);
        if (chunkSize < MinChunkSize || chunkSize > MaxChunkSize)
            throw new EncryptedDataException(EncryptedDataReason.BadHeader, null,
                $"The header of the encrypted data is invalid (chunk size {chunkSize} is outside {MinChunkSize}..{MaxChunkSize}): " +
                "it was altered or damaged.");
        ReadOnlySpan<byte> keyId = header.Slice(KeyIdOffset, KeyIdSize);
        if (!keyId.SequenceEqual(expectedKeyId))
            throw new EncryptedDataException(EncryptedDataReason.WrongKey, null,
                $"The data was encrypted with a different key (key id {ToHex(keyId)}) than the one " +
                $"supplied (key id {expectedKeyIdHex}), or its header was altered. Decrypt it with the key of the " +
                "repository it belongs to.");
        return (int)chunkSize;
    }

    public static void WriteNonce(Span<byte> nonce, long chunkIndex)
    {
        BinaryPrimitives.WriteUInt32BigEndian(nonce, 0);
        BinaryPrimitives.WriteInt64BigEndian(nonce[4..], chunkIndex);
    }

    /// <summary>The AAD buffer starts with the header; this fills in the index and final flag after it.</summary>
    public static void SetAadChunk(Span<byte> aad, long chunkIndex, bool isFinal)
    {
        BinaryPrimitives.WriteInt64BigEndian(aad.Slice(HeaderSize, 8), chunkIndex);
        aad[HeaderSize + 8] = isFinal ? (byte)1 : (byte)0;
    }

    public static void DeriveFileKey(ReadOnlySpan<byte> masterKey, ReadOnlySpan<byte> fileSalt, Span<byte> fileKey) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, fileKey[..KeySize], fileSalt, FileKeyInfo);

    public static void DeriveKeyCheck(ReadOnlySpan<byte> masterKey, Span<byte> keyCheck) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, masterKey, keyCheck[..KeyCheckSize], ReadOnlySpan<byte>.Empty, KeyCheckInfo);

    public static void EnsureAesGcmSupported()
    {
        if (!AesGcm.IsSupported)
            throw new PlatformNotSupportedException(
                "AES-GCM is not available on this platform, so PgBackupTools cannot encrypt or decrypt. " +
                "On Linux, install OpenSSL 1.1.1 or later.");
    }

    public static string ToHex(ReadOnlySpan<byte> bytes) => Convert.ToHexString(bytes).ToLowerInvariant();
}
