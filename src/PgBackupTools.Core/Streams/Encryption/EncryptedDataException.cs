namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// Encrypted data could not be decrypted: it was altered, truncated, belongs to another file or key,
/// or uses a format this version cannot read. The message never holds key material or plaintext;
/// it does not name the file either (a stream does not know it): the caller adds that.
/// </summary>
public sealed class EncryptedDataException : IOException
{
    public EncryptedDataException(EncryptedDataReason reason, long? chunkIndex, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Reason = reason;
        ChunkIndex = chunkIndex;
    }

    public EncryptedDataReason Reason { get; }

    /// <summary>The zero-based index of the chunk that failed, or null when the header failed.</summary>
    public long? ChunkIndex { get; }

    internal static EncryptedDataException AuthenticationFailed(long chunkIndex, Exception? inner = null) =>
        new(EncryptedDataReason.AuthenticationFailed, chunkIndex,
            $"Chunk {chunkIndex} of the encrypted data failed authentication: the data was altered, damaged or " +
            "truncated, chunks were reordered, or this chunk belongs to another file. No plaintext of this chunk was released.",
            inner);

    internal static EncryptedDataException TruncatedInHeader(int bytesRead) =>
        new(EncryptedDataReason.Truncated, null,
            bytesRead == 0
                ? "The encrypted data is empty: it holds no header, so it was truncated or is not encrypted data."
                : $"The encrypted data is truncated: it ends inside its header ({bytesRead} of {EncryptionFormat.HeaderSize} bytes).");

    internal static EncryptedDataException TruncatedBeforeChunk(long chunkIndex) =>
        new(EncryptedDataReason.Truncated, chunkIndex,
            chunkIndex == 0
                ? "The encrypted data is truncated: it ends right after its header, without any chunk."
                : $"The encrypted data is truncated: it ends after chunk {chunkIndex - 1} without a final chunk.");

    internal static EncryptedDataException TruncatedInChunk(long chunkIndex) =>
        new(EncryptedDataReason.Truncated, chunkIndex,
            $"The encrypted data is truncated: it ends inside chunk {chunkIndex}, before the chunk's authentication tag.");
}
