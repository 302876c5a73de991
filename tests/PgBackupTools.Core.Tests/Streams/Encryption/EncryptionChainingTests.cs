using System.IO.Compression;
using System.Security.Cryptography;
using PgBackupTools.Core.Streams.Encryption;
using ZstdSharp;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

/// <summary>Encryption is one link of a chain: compress, then encrypt, then hash what is stored.</summary>
public sealed class EncryptionChainingTests
{
    private static byte[] CompressibleDump()
    {
        var text = new System.Text.StringBuilder();
        for (int i = 0; i < 40_000; i++) text.Append("INSERT INTO t VALUES (").Append(i).Append(", 'row ").Append(i % 97).AppendLine("');");
        return System.Text.Encoding.UTF8.GetBytes(text.ToString());
    }

    [Fact]
    public void Zstd_then_encryption_then_SHA256_round_trips()
    {
        using var key = NewKey();
        byte[] dump = CompressibleDump();
        var stored = new MemoryStream();

        using (var hashing = new CryptoStream(stored, SHA256.Create(), CryptoStreamMode.Write, leaveOpen: true))
        using (var encrypting = new EncryptingStream(hashing, key))
        using (var compressing = new CompressionStream(encrypting, level: 3))
            compressing.Write(dump);

        byte[] storedBytes = stored.ToArray();
        Assert.True(storedBytes.Length < dump.Length / 3, "compression ran before encryption");

        using var decrypting = new DecryptingStream(new MemoryStream(storedBytes), key);
        using var decompressing = new DecompressionStream(decrypting);
        var restored = new MemoryStream();
        decompressing.CopyTo(restored);

        Assert.Equal(dump, restored.ToArray());
    }

    [Fact]
    public void Gzip_then_encryption_round_trips_and_damage_surfaces_through_the_decompressor()
    {
        using var key = NewKey();
        byte[] dump = CompressibleDump();
        var stored = new MemoryStream();
        using (var encrypting = new EncryptingStream(stored, key, chunkSize: 4096))
        using (var gzip = new GZipStream(encrypting, CompressionLevel.Fastest))
            gzip.Write(dump);
        byte[] damaged = stored.ToArray();
        damaged[damaged.Length / 2] ^= 1;

        using var decrypting = new DecryptingStream(new MemoryStream(damaged), key);
        using var gunzip = new GZipStream(decrypting, CompressionMode.Decompress);

        Assert.Throws<EncryptedDataException>(() => gunzip.CopyTo(Stream.Null));
    }
}
