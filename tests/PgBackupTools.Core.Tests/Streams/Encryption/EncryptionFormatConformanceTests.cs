using System.Buffers.Binary;
using System.Security.Cryptography;
using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

/// <summary>
/// Decrypts with nothing but BCL primitives and the rules written in docs/encryption-format.md,
/// so the document and the code cannot drift apart unnoticed.
/// </summary>
public sealed class EncryptionFormatConformanceTests
{
    [Theory]
    [InlineData(0, 64)]
    [InlineData(64, 64)]
    [InlineData(200, 64)]
    [InlineData(3000, 1024)]
    public void A_file_decrypts_by_the_documented_rules_alone(int length, int chunkSize)
    {
        byte[] passphrase = "documented"u8.ToArray();
        var (parameters, key) = RepositoryEncryption.CreateForTests(passphrase, 1000);
        byte[] plaintext = Plaintext(length);
        byte[] file;
        using (key) file = Encrypt(plaintext, key, chunkSize);

        Assert.Equal(plaintext, DecryptAsDocumented(file, parameters, passphrase));
    }

    private static byte[] DecryptAsDocumented(byte[] file, RepositoryEncryption repository, byte[] passphrase)
    {
        byte[] master = Rfc2898DeriveBytes.Pbkdf2(passphrase, Convert.FromBase64String(repository.Salt),
            repository.Iterations, HashAlgorithmName.SHA256, 32);

        byte[] header = file[..56];
        Assert.Equal("PGBT-ENC"u8.ToArray(), header[..8]);
        Assert.Equal(1, header[8]);
        Assert.Equal(1, header[9]);
        int chunkSize = (int)BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(12));
        Assert.Equal(Convert.FromBase64String(repository.KeyCheck)[..8], header[16..24]);
        byte[] fileKey = HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, salt: header[24..56], info: "pgbt file v1"u8.ToArray());

        using var aes = new AesGcm(fileKey, 16);
        var output = new MemoryStream();
        byte[] body = file[56..];
        int record = chunkSize + 16;
        Assert.NotEqual(0, body.Length % record); // the final chunk is always short
        for (long index = 0, offset = 0; offset < body.Length; index++, offset += record)
        {
            byte[] chunk = body[(int)offset..(int)Math.Min(offset + record, body.Length)];
            bool final = chunk.Length < record;
            byte[] nonce = new byte[12];
            BinaryPrimitives.WriteUInt64BigEndian(nonce.AsSpan(4), (ulong)index);
            byte[] aad = [.. header, .. BigEndian(index), final ? (byte)1 : (byte)0];
            byte[] plain = new byte[chunk.Length - 16];
            aes.Decrypt(nonce, chunk[..^16], chunk[^16..], plain, aad);
            output.Write(plain);
        }
        return output.ToArray();
    }

    private static byte[] BigEndian(long value)
    {
        byte[] bytes = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(bytes, value);
        return bytes;
    }
}
