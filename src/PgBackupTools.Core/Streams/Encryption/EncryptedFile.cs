namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// Encrypts or decrypts a whole file with a repository key (what Protect-/Unprotect-PgBackupFile do).
/// Both are atomic: the output goes to a temp file in the destination directory, is fsynced and
/// renamed into place only when complete and (for Decrypt) fully authenticated; on any failure the
/// temp file is deleted and the destination is left as it was. Outputs are created with mode 0600 on Unix.
/// </summary>
public static class EncryptedFile
{
    private const int CopyBufferSize = EncryptionFormat.DefaultChunkSize;

    /// <summary>Encrypts <paramref name="sourcePath"/> into <paramref name="destinationPath"/>.</summary>
    /// <param name="overwrite">Replace an existing destination; otherwise it is an <see cref="IOException"/>.</param>
    /// <param name="progress">Receives the plaintext bytes processed so far, about once per MiB.</param>
    /// <returns>The destination file.</returns>
    public static FileInfo Encrypt(string sourcePath, string destinationPath, EncryptionKey key, bool overwrite = false,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        ArgumentException.ThrowIfNullOrEmpty(destinationPath);
        ArgumentNullException.ThrowIfNull(key);

        using FileStream source = OpenSource(sourcePath);
        AtomicFileWriter.Write(destinationPath, overwrite, temp =>
        {
            using var encrypting = new EncryptingStream(temp, key, leaveOpen: true);
            Copy(source, encrypting, progress, cancellationToken);
            encrypting.FlushFinalChunk();
        });
        return new FileInfo(Path.GetFullPath(destinationPath));
    }

    /// <summary>
    /// Decrypts <paramref name="sourcePath"/> into <paramref name="destinationPath"/>; the destination
    /// appears only if every chunk authenticated and the final chunk was present.
    /// </summary>
    /// <exception cref="EncryptedDataException">The file was altered, truncated, or encrypted with another key; its message names the file.</exception>
    public static FileInfo Decrypt(string sourcePath, string destinationPath, EncryptionKey key, bool overwrite = false,
        IProgress<long>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(sourcePath);
        ArgumentException.ThrowIfNullOrEmpty(destinationPath);
        ArgumentNullException.ThrowIfNull(key);

        using FileStream source = OpenSource(sourcePath);
        try
        {
            AtomicFileWriter.Write(destinationPath, overwrite, temp =>
            {
                using var decrypting = new DecryptingStream(source, key, leaveOpen: true);
                Copy(decrypting, temp, progress, cancellationToken);
                if (!decrypting.IsComplete) // cannot happen: Read returns 0 only after the final chunk
                    throw new InvalidOperationException("Decryption ended before the final chunk.");
            });
        }
        catch (EncryptedDataException e)
        {
            throw new EncryptedDataException(e.Reason, e.ChunkIndex,
                $"The file {Path.GetFullPath(sourcePath)} cannot be decrypted, and {Path.GetFullPath(destinationPath)} was not written. {e.Message}", e);
        }
        return new FileInfo(Path.GetFullPath(destinationPath));
    }

    /// <summary>True if the file starts with the format's magic bytes ("PGBT-ENC"); says nothing about its integrity.</summary>
    public static bool IsEncrypted(string path)
    {
        using FileStream stream = new(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 1);
        Span<byte> magic = stackalloc byte[EncryptionFormat.Magic.Length];
        return stream.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) == magic.Length
            && magic.SequenceEqual(EncryptionFormat.Magic);
    }

    private static FileStream OpenSource(string path) =>
        new(path, new FileStreamOptions
        {
            Mode = FileMode.Open,
            Access = FileAccess.Read,
            Share = FileShare.Read,
            BufferSize = 0,
            Options = FileOptions.SequentialScan,
        });

    private static void Copy(Stream from, Stream to, IProgress<long>? progress, CancellationToken cancellationToken)
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(CopyBufferSize);
        try
        {
            long total = 0;
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = from.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                if (n == 0) break;
                to.Write(buffer, 0, n);
                total += n;
                progress?.Report(total);
                if (n < buffer.Length) break;
            }
        }
        finally
        {
            Array.Clear(buffer); // it held plaintext
        }
    }
}
