using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

public sealed class RepositoryEncryptionTests
{
    [Fact]
    public void The_default_iteration_count_is_at_least_600000_and_fewer_are_refused()
    {
        var create = typeof(RepositoryEncryption).GetMethod(nameof(RepositoryEncryption.Create))!;
        var iterations = create.GetParameters().Single(p => p.Name == "iterations");

        Assert.True((int)iterations.DefaultValue! >= 600_000);
        Assert.True(RepositoryEncryption.DefaultIterations >= 600_000);
        Assert.True(RepositoryEncryption.MinimumIterations >= 600_000);
        Assert.Throws<ArgumentOutOfRangeException>(() => RepositoryEncryption.Create("passphrase"u8, 599_999));
    }

    [Fact]
    public void Unlock_with_the_right_passphrase_gives_the_key_that_Create_gave()
    {
        var (parameters, created) = RepositoryEncryption.CreateForTests("s3cret passphrase"u8, FastIterations);
        byte[] ciphertext;
        using (created) ciphertext = Encrypt(Plaintext(300), created);

        using var unlocked = parameters.Unlock("s3cret passphrase"u8);

        Assert.Equal(created.KeyId, unlocked.KeyId);
        Assert.Equal(parameters.KeyId, unlocked.KeyId);
        Assert.Equal(Plaintext(300), Decrypt(ciphertext, unlocked));
    }

    [Fact]
    public void A_wrong_passphrase_is_refused_by_Unlock_before_anything_is_read()
    {
        var source = new CountingStream(Encrypt(Plaintext(300), NewKey()));

        var e = Assert.Throws<WrongPassphraseException>(() =>
        {
            using EncryptionKey key = Parameters.Unlock("correct horse battery stapl"u8);
            using var decrypting = new DecryptingStream(source, key);
            decrypting.CopyTo(Stream.Null);
        });

        Assert.Equal(0, source.BytesRead);
        Assert.Contains("does not match this repository's key check", e.Message);
        Assert.Contains("Nothing was read or written", e.Message);
        Assert.DoesNotContain("stapl", e.Message);
        Assert.DoesNotContain("horse", e.Message);
    }

    [Fact]
    public void An_empty_passphrase_is_refused()
    {
        Assert.Throws<ArgumentException>(() => RepositoryEncryption.CreateForTests(ReadOnlySpan<byte>.Empty, FastIterations));
        Assert.Throws<WrongPassphraseException>(() => Parameters.Unlock(ReadOnlySpan<byte>.Empty));
    }

    [Fact]
    public void Parameters_round_trip_through_json_and_hold_nothing_secret()
    {
        byte[] passphrase = "a passphrase that must not leak"u8.ToArray();
        var (parameters, key) = RepositoryEncryption.CreateForTests(passphrase, 1234);
        using (key)
        {
            string json = parameters.ToJson();
            using var document = JsonDocument.Parse(json);
            JsonElement root = document.RootElement;

            Assert.Equal("aes-256-gcm", root.GetProperty("cipher").GetString());
            Assert.Equal("pbkdf2-sha256", root.GetProperty("kdf").GetString());
            Assert.Equal(1234, root.GetProperty("iterations").GetInt32());
            Assert.Equal(32, Convert.FromBase64String(root.GetProperty("salt").GetString()!).Length);
            Assert.Equal(32, Convert.FromBase64String(root.GetProperty("keyCheck").GetString()!).Length);
            Assert.Equal(5, root.EnumerateObject().Count());
            Assert.DoesNotContain("passphrase", json, StringComparison.OrdinalIgnoreCase);

            using var unlocked = RepositoryEncryption.FromJson(json).Unlock(passphrase);
            Assert.Equal(key.KeyId, unlocked.KeyId);
        }
    }

    [Fact]
    public void Base64_is_written_plainly_not_escaped()
    {
        string json = new RepositoryEncryption { Iterations = 1, Salt = "ab+/cd==", KeyCheck = "++//" }.ToJson();

        Assert.Contains("\"salt\": \"ab+/cd==\"", json);
        Assert.Contains("\"keyCheck\": \"++//\"", json);
    }

    [Fact]
    public void Key_check_and_key_id_follow_the_documented_derivation()
    {
        byte[] passphrase = Encoding.UTF8.GetBytes("pässphrase");
        var (parameters, key) = RepositoryEncryption.CreateForTests(passphrase, 2000);
        using (key)
        {
            // docs/encryption-format.md: master = PBKDF2-HMAC-SHA256(passphrase, salt, iterations, 32);
            // key check = HKDF-SHA256(master, salt: none, info: "pgbt key check v1", 32); key id = key check[0..8].
            byte[] master = Rfc2898DeriveBytes.Pbkdf2(passphrase, Convert.FromBase64String(parameters.Salt), 2000, HashAlgorithmName.SHA256, 32);
            byte[] check = HKDF.DeriveKey(HashAlgorithmName.SHA256, master, 32, salt: [], info: "pgbt key check v1"u8.ToArray());

            Assert.Equal(Convert.ToBase64String(check), parameters.KeyCheck);
            Assert.Equal(Convert.ToHexString(check[..8]).ToLowerInvariant(), key.KeyId);
            Assert.NotEqual(master, check);
        }
    }

    [Fact]
    public void Each_repository_gets_its_own_salt_and_key()
    {
        var (first, firstKey) = RepositoryEncryption.CreateForTests("same"u8, FastIterations);
        var (second, secondKey) = RepositoryEncryption.CreateForTests("same"u8, FastIterations);
        using (firstKey)
        using (secondKey)
        {
            Assert.NotEqual(first.Salt, second.Salt);
            Assert.NotEqual(first.KeyCheck, second.KeyCheck);
            Assert.NotEqual(firstKey.KeyId, secondKey.KeyId);
        }
    }

    [Fact]
    public void Damaged_or_unknown_parameters_are_refused_with_a_clear_message()
    {
        var good = Parameters;

        var badSalt = new RepositoryEncryption { Iterations = good.Iterations, Salt = "not base64!", KeyCheck = good.KeyCheck };
        var shortCheck = new RepositoryEncryption { Iterations = good.Iterations, Salt = good.Salt, KeyCheck = Convert.ToBase64String(new byte[8]) };
        var argon = new RepositoryEncryption { Kdf = "argon2id", Iterations = good.Iterations, Salt = good.Salt, KeyCheck = good.KeyCheck };
        var cbc = new RepositoryEncryption { Cipher = "aes-256-cbc", Iterations = good.Iterations, Salt = good.Salt, KeyCheck = good.KeyCheck };
        var zero = new RepositoryEncryption { Iterations = 0, Salt = good.Salt, KeyCheck = good.KeyCheck };

        Assert.Contains("salt", Assert.Throws<InvalidDataException>(() => badSalt.Unlock(Passphrase)).Message);
        Assert.Contains("key check", Assert.Throws<InvalidDataException>(() => shortCheck.Unlock(Passphrase)).Message);
        Assert.Contains("argon2id", Assert.Throws<NotSupportedException>(() => argon.Unlock(Passphrase)).Message);
        Assert.Contains("aes-256-cbc", Assert.Throws<NotSupportedException>(() => cbc.Unlock(Passphrase)).Message);
        Assert.Throws<InvalidDataException>(() => zero.Unlock(Passphrase));
    }

    [Fact]
    public void A_disposed_key_can_no_longer_be_used()
    {
        var key = NewKey();
        key.Dispose();
        key.Dispose();

        Assert.Throws<ObjectDisposedException>(() => new EncryptingStream(new MemoryStream(), key));
    }

    private sealed class CountingStream(byte[] data) : MemoryStream(data)
    {
        public long BytesRead { get; private set; }

        public override int Read(byte[] buffer, int offset, int count) => Count(base.Read(buffer, offset, count));

        public override int Read(Span<byte> buffer) => Count(base.Read(buffer));

        private int Count(int n)
        {
            BytesRead += n;
            return n;
        }
    }
}
