using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

public sealed class EncryptedFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pgbt-encrypted-file-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string PathOf(string name) => Path.Combine(_directory, name);

    private string[] FilesInDirectory() => Directory.GetFiles(_directory).Select(Path.GetFileName).Order().ToArray()!;

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(1024 * 1024)]
    [InlineData(2 * 1024 * 1024 + 777)]
    public void Encrypt_then_Decrypt_gives_the_file_back(int length)
    {
        using var key = NewKey();
        byte[] plaintext = Plaintext(length);
        File.WriteAllBytes(PathOf("dump.sql"), plaintext);

        FileInfo encrypted = EncryptedFile.Encrypt(PathOf("dump.sql"), PathOf("dump.sql.enc"), key);
        FileInfo decrypted = EncryptedFile.Decrypt(PathOf("dump.sql.enc"), PathOf("restored.sql"), key);

        Assert.Equal(PathOf("dump.sql.enc"), encrypted.FullName);
        Assert.True(EncryptedFile.IsEncrypted(encrypted.FullName));
        Assert.False(EncryptedFile.IsEncrypted(PathOf("dump.sql")));
        Assert.Equal(plaintext, File.ReadAllBytes(decrypted.FullName));
        Assert.Equal(["dump.sql", "dump.sql.enc", "restored.sql"], FilesInDirectory());
    }

    [Fact]
    public void Outputs_are_readable_by_their_owner_only()
    {
        if (OperatingSystem.IsWindows()) return;
        using var key = NewKey();
        File.WriteAllBytes(PathOf("a"), Plaintext(10));

        EncryptedFile.Encrypt(PathOf("a"), PathOf("a.enc"), key);
        EncryptedFile.Decrypt(PathOf("a.enc"), PathOf("b"), key);

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("a.enc")));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(PathOf("b")));
    }

    [Fact]
    public void A_tampered_file_is_not_decrypted_and_the_destination_is_left_untouched()
    {
        using var key = NewKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(3 * 1024 * 1024 + 1000));
        EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key);
        byte[] damaged = File.ReadAllBytes(PathOf("dump.enc"));
        damaged[^100] ^= 1; // in the final chunk: three good chunks come first
        File.WriteAllBytes(PathOf("dump.enc"), damaged);
        File.WriteAllText(PathOf("restored"), "previous content");

        var e = Assert.Throws<EncryptedDataException>(() =>
            EncryptedFile.Decrypt(PathOf("dump.enc"), PathOf("restored"), key, overwrite: true));

        Assert.Equal(EncryptedDataReason.AuthenticationFailed, e.Reason);
        Assert.Equal(3, e.ChunkIndex);
        Assert.Contains(PathOf("dump.enc"), e.Message);
        Assert.Contains("Chunk 3", e.Message);
        Assert.Equal("previous content", File.ReadAllText(PathOf("restored")));
        Assert.Equal(["dump", "dump.enc", "restored"], FilesInDirectory()); // no temp file left
    }

    [Fact]
    public void A_truncated_file_leaves_no_destination()
    {
        using var key = NewKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(2 * 1024 * 1024 + 5));
        EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key);
        byte[] file = File.ReadAllBytes(PathOf("dump.enc"));
        File.WriteAllBytes(PathOf("dump.enc"), file[..(Header + 2 * (1024 * 1024 + Tag))]);

        var e = Assert.Throws<EncryptedDataException>(() => EncryptedFile.Decrypt(PathOf("dump.enc"), PathOf("restored"), key));

        Assert.Equal(EncryptedDataReason.Truncated, e.Reason);
        Assert.False(File.Exists(PathOf("restored")));
        Assert.Equal(["dump", "dump.enc"], FilesInDirectory());
    }

    [Fact]
    public void A_file_of_another_repository_is_refused_before_anything_is_written()
    {
        using var key = NewKey();
        using var other = OtherKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(100));
        EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key);

        var e = Assert.Throws<EncryptedDataException>(() => EncryptedFile.Decrypt(PathOf("dump.enc"), PathOf("restored"), other));

        Assert.Equal(EncryptedDataReason.WrongKey, e.Reason);
        Assert.False(File.Exists(PathOf("restored")));
        Assert.Equal(["dump", "dump.enc"], FilesInDirectory());
    }

    [Fact]
    public void An_existing_destination_is_not_overwritten_unless_asked()
    {
        using var key = NewKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(100));
        File.WriteAllText(PathOf("dump.enc"), "keep me");

        Assert.Throws<IOException>(() => EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key));
        Assert.Equal("keep me", File.ReadAllText(PathOf("dump.enc")));

        EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key, overwrite: true);
        Assert.True(EncryptedFile.IsEncrypted(PathOf("dump.enc")));
        Assert.Equal(["dump", "dump.enc"], FilesInDirectory());
    }

    [Fact]
    public void Cancellation_leaves_no_destination_and_no_temp_file()
    {
        using var key = NewKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(3 * 1024 * 1024));
        using var cancellation = new CancellationTokenSource();
        var progress = new SynchronousProgress(bytes => { if (bytes >= 1024 * 1024) cancellation.Cancel(); });

        Assert.ThrowsAny<OperationCanceledException>(() =>
            EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key, progress: progress, cancellationToken: cancellation.Token));

        Assert.Equal(["dump"], FilesInDirectory());
    }

    [Fact]
    public void Progress_reports_the_plaintext_bytes_processed()
    {
        using var key = NewKey();
        File.WriteAllBytes(PathOf("dump"), Plaintext(2 * 1024 * 1024 + 10));
        var reported = new List<long>();

        EncryptedFile.Encrypt(PathOf("dump"), PathOf("dump.enc"), key, progress: new SynchronousProgress(reported.Add));

        Assert.Equal([1024 * 1024, 2 * 1024 * 1024, 2 * 1024 * 1024 + 10], reported);
    }

    private sealed class SynchronousProgress(Action<long> report) : IProgress<long>
    {
        public void Report(long value) => report(value);
    }
}
