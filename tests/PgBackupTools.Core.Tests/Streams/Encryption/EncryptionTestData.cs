using PgBackupTools.Core.Streams.Encryption;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

/// <summary>Keys, plaintext and helpers shared by the encryption tests. Small chunks keep files tiny.</summary>
internal static class EncryptionTestData
{
    public const int SmallChunk = 64;
    public const int Header = 56;
    public const int Tag = 16;
    public const int FastIterations = 1_000;

    private static readonly Lazy<(RepositoryEncryption Parameters, byte[] Passphrase)> Repository = new(() =>
    {
        byte[] passphrase = "correct horse battery staple"u8.ToArray();
        var (parameters, key) = RepositoryEncryption.CreateForTests(passphrase, FastIterations);
        key.Dispose();
        return (parameters, passphrase);
    });

    public static RepositoryEncryption Parameters => Repository.Value.Parameters;
    public static byte[] Passphrase => Repository.Value.Passphrase;

    /// <summary>A fresh key object for the shared test repository (callers dispose it).</summary>
    public static EncryptionKey NewKey() => Parameters.Unlock(Passphrase);

    /// <summary>A key of another repository: same kind, different passphrase.</summary>
    public static EncryptionKey OtherKey()
    {
        var (_, key) = RepositoryEncryption.CreateForTests("not the passphrase"u8, FastIterations);
        return key;
    }

    public static byte[] Plaintext(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    public static byte[] Encrypt(byte[] plaintext, EncryptionKey key, int chunkSize = SmallChunk, int writeSize = int.MaxValue)
    {
        var output = new MemoryStream();
        using (var encrypting = new EncryptingStream(output, key, leaveOpen: true, chunkSize: chunkSize))
        {
            for (int offset = 0; offset < plaintext.Length; offset += writeSize)
                encrypting.Write(plaintext, offset, Math.Min(writeSize, plaintext.Length - offset));
        }
        return output.ToArray();
    }

    public static byte[] Decrypt(byte[] ciphertext, EncryptionKey key)
    {
        using var decrypting = new DecryptingStream(new MemoryStream(ciphertext), key);
        var output = new MemoryStream();
        decrypting.CopyTo(output);
        return output.ToArray();
    }

    /// <summary>
    /// Decrypts with small reads until the end or a failure; returns what reached the output and the failure.
    /// </summary>
    public static (byte[] Output, EncryptedDataException? Failure) DecryptUntilFailure(byte[] ciphertext, EncryptionKey key, int readSize = 7)
    {
        var output = new MemoryStream();
        using var decrypting = new DecryptingStream(new MemoryStream(ciphertext), key);
        var buffer = new byte[readSize];
        try
        {
            int n;
            while ((n = decrypting.Read(buffer, 0, buffer.Length)) > 0)
                output.Write(buffer, 0, n);
            return (output.ToArray(), null);
        }
        catch (EncryptedDataException e)
        {
            return (output.ToArray(), e);
        }
    }

    /// <summary>Offset of chunk <paramref name="index"/> in a file of <paramref name="chunkSize"/> chunks.</summary>
    public static int ChunkOffset(int index, int chunkSize = SmallChunk) => Header + index * (chunkSize + Tag);

    public static byte[] Concat(params byte[][] parts)
    {
        var output = new MemoryStream();
        foreach (var part in parts) output.Write(part);
        return output.ToArray();
    }
}
