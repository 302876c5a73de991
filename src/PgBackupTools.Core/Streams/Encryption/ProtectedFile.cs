using System.Buffers.Binary;
using System.Text;

namespace PgBackupTools.Core.Streams.Encryption;

/// <summary>
/// A standalone encrypted file (what Protect-/Unprotect-PgBackupFile write and read), decryptable with nothing
/// but its passphrase: a small self-describing prefix that carries the KDF parameters, then a format-1 encrypted
/// file (docs/encryption-format.md, section 5):
/// <code>"PGBT-PBE" || 0x01 || uint32 length L || L bytes of JSON (the "encryption" object of repository.json) || format-1 file</code>
/// Both directions are atomic (temp file, fsync, rename) and never overwrite unless told to.
/// </summary>
public static class ProtectedFile
{
    public static ReadOnlySpan<byte> Magic => "PGBT-PBE"u8;
    public const byte Version = 1;
    private const int MaxParametersLength = 4096;
    private const int CopyBufferSize = EncryptionFormat.DefaultChunkSize;

    /// <summary>Encrypts <paramref name="sourcePath"/> into <paramref name="destinationPath"/> with the key of <paramref name="parameters"/>.</summary>
    public static FileInfo Protect(string sourcePath, string destinationPath, RepositoryEncryption parameters, EncryptionKey key,
        bool overwrite, OperationContext context)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        ArgumentNullException.ThrowIfNull(key);
        byte[] json = Encoding.UTF8.GetBytes(parameters.ToJson());
        using FileStream source = OpenSource(sourcePath);
        var meter = new ProgressMeter(context, $"Encrypting {Path.GetFileName(sourcePath)}", source.Length) { Status = "encrypting" };
        AtomicFileWriter.Write(destinationPath, overwrite, temp =>
        {
            Span<byte> prefix = stackalloc byte[Magic.Length + 1 + 4];
            Magic.CopyTo(prefix);
            prefix[Magic.Length] = Version;
            BinaryPrimitives.WriteUInt32BigEndian(prefix[(Magic.Length + 1)..], (uint)json.Length);
            temp.Write(prefix);
            temp.Write(json);
            using var encrypting = new EncryptingStream(temp, key, leaveOpen: true);
            Copy(source, encrypting, meter, context.CancellationToken);
            encrypting.FlushFinalChunk();
        });
        meter.Report();
        return new FileInfo(Path.GetFullPath(destinationPath));
    }

    /// <summary>The KDF parameters a protected file carries, so its passphrase can be checked before anything is written.</summary>
    /// <exception cref="InvalidDataException">The file is not a protected file (or its prefix is damaged).</exception>
    public static RepositoryEncryption ReadParameters(string path)
    {
        using FileStream source = OpenSource(path);
        return ReadPrefix(source, path);
    }

    /// <summary>
    /// Decrypts <paramref name="sourcePath"/> into <paramref name="destinationPath"/>; the destination appears only if
    /// every chunk authenticated and the final chunk was present.
    /// </summary>
    /// <exception cref="EncryptedDataException">The file was altered or truncated; the message names it.</exception>
    public static FileInfo Unprotect(string sourcePath, string destinationPath, EncryptionKey key, bool overwrite, OperationContext context)
    {
        ArgumentNullException.ThrowIfNull(key);
        using FileStream source = OpenSource(sourcePath);
        ReadPrefix(source, sourcePath);
        var meter = new ProgressMeter(context, $"Decrypting {Path.GetFileName(sourcePath)}", source.Length) { Status = "decrypting" };
        try
        {
            AtomicFileWriter.Write(destinationPath, overwrite, temp =>
            {
                using var decrypting = new DecryptingStream(source, key, leaveOpen: true);
                Copy(decrypting, temp, meter, context.CancellationToken);
                if (!decrypting.IsComplete) throw new InvalidOperationException("Decryption ended before the final chunk.");
            });
        }
        catch (EncryptedDataException e)
        {
            throw new EncryptedDataException(e.Reason, e.ChunkIndex,
                $"The file {Path.GetFullPath(sourcePath)} cannot be decrypted, and {Path.GetFullPath(destinationPath)} was not written. {e.Message}", e);
        }
        meter.Report();
        return new FileInfo(Path.GetFullPath(destinationPath));
    }

    private static RepositoryEncryption ReadPrefix(Stream source, string path)
    {
        Span<byte> prefix = stackalloc byte[Magic.Length + 1 + 4];
        if (source.ReadAtLeast(prefix, prefix.Length, throwOnEndOfStream: false) < prefix.Length || !prefix[..Magic.Length].SequenceEqual(Magic))
        {
            source.Position = 0;
            Span<byte> magic = stackalloc byte[EncryptionFormat.Magic.Length];
            bool repositoryFile = source.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false) == magic.Length && magic.SequenceEqual(EncryptionFormat.Magic);
            throw new InvalidDataException(repositoryFile
                ? $"The file {Path.GetFullPath(path)} is a file of an encrypted repository, not one made by Protect-PgBackupFile: its key parameters are in that repository's repository.json. Restore it with Restore-PgDatabase, or decrypt it as docs/encryption-format.md section 4 shows."
                : $"The file {Path.GetFullPath(path)} was not encrypted by Protect-PgBackupFile (it does not start with \"PGBT-PBE\").");
        }
        if (prefix[Magic.Length] != Version)
            throw new InvalidDataException($"The file {Path.GetFullPath(path)} uses protected-file version {prefix[Magic.Length]}; this version of PgBackupTools reads version {Version}. Update the module.");
        uint length = BinaryPrimitives.ReadUInt32BigEndian(prefix[(Magic.Length + 1)..]);
        if (length == 0 || length > MaxParametersLength)
            throw new InvalidDataException($"The file {Path.GetFullPath(path)} is damaged: its key parameters claim {length} bytes.");
        byte[] json = new byte[length];
        if (source.ReadAtLeast(json, json.Length, throwOnEndOfStream: false) < json.Length)
            throw new InvalidDataException($"The file {Path.GetFullPath(path)} is truncated inside its key parameters.");
        try
        {
            return RepositoryEncryption.FromJson(Encoding.UTF8.GetString(json));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new InvalidDataException($"The file {Path.GetFullPath(path)} is damaged: its key parameters are not readable JSON.", e);
        }
    }

    private static FileStream OpenSource(string path) =>
        new(path, new FileStreamOptions { Mode = FileMode.Open, Access = FileAccess.Read, Share = FileShare.Read, BufferSize = 0, Options = FileOptions.SequentialScan });

    private static void Copy(Stream from, Stream to, ProgressMeter meter, CancellationToken cancellationToken)
    {
        byte[] buffer = GC.AllocateUninitializedArray<byte>(CopyBufferSize);
        try
        {
            while (true)
            {
                cancellationToken.ThrowIfCancellationRequested();
                int n = from.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
                if (n == 0) break;
                to.Write(buffer, 0, n);
                meter.Add(n);
                if (n < buffer.Length) break;
            }
        }
        finally
        {
            Array.Clear(buffer); // it held plaintext
        }
    }
}
