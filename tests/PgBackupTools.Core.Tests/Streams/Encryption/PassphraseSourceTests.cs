using System.Security;
using System.Text;
using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

public sealed class PassphraseSourceTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("pgbt-passphrase-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static string PassphraseText => Encoding.UTF8.GetString(Passphrase);

    private string KeyFile(string content, UnixFileMode mode = UnixFileMode.UserRead | UnixFileMode.UserWrite)
    {
        string path = Path.Combine(_directory, $"key-{Guid.NewGuid():N}");
        File.WriteAllBytes(path, Encoding.UTF8.GetBytes(content));
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, mode);
        return path;
    }

    private static byte[] Bytes(PassphraseSource source) => source.Use(p => p.ToArray());

    [Fact]
    public void A_SecureString_unlocks_the_repository()
    {
        using var secure = new SecureString();
        foreach (char c in PassphraseText) secure.AppendChar(c);
        secure.MakeReadOnly();

        var source = PassphraseSource.FromSecureString(secure);
        using var key = source.Unlock(Parameters);

        Assert.Equal(Parameters.KeyId, key.KeyId);
        Assert.Equal(Passphrase, Bytes(source));
    }

    [Fact]
    public void A_SecureString_is_encoded_as_UTF8()
    {
        using var secure = new SecureString();
        foreach (char c in "pä€𝄞") secure.AppendChar(c);

        Assert.Equal(Encoding.UTF8.GetBytes("pä€𝄞"), Bytes(PassphraseSource.FromSecureString(secure)));
    }

    [Fact]
    public void An_empty_SecureString_is_refused()
    {
        using var secure = new SecureString();
        Assert.Throws<ArgumentException>(() => Bytes(PassphraseSource.FromSecureString(secure)));
    }

    [Fact]
    public void An_environment_variable_unlocks_the_repository()
    {
        string name = $"PGBT_TEST_PASSPHRASE_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(name, PassphraseText);
        try
        {
            using var key = PassphraseSource.FromEnvironmentVariable(name).Unlock(Parameters);
            Assert.Equal(Parameters.KeyId, key.KeyId);
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Fact]
    public void A_missing_environment_variable_is_named_in_the_error()
    {
        string name = $"PGBT_TEST_MISSING_{Guid.NewGuid():N}";

        var e = Assert.Throws<InvalidOperationException>(() => PassphraseSource.FromEnvironmentVariable(name).Unlock(Parameters));

        Assert.Contains(name, e.Message);
        Assert.Contains("not set", e.Message);
    }

    [Fact]
    public void A_wrong_passphrase_names_its_source_but_never_its_value()
    {
        string name = $"PGBT_TEST_WRONG_{Guid.NewGuid():N}";
        Environment.SetEnvironmentVariable(name, "hunter2-wrong-value");
        try
        {
            var e = Assert.Throws<WrongPassphraseException>(() => PassphraseSource.FromEnvironmentVariable(name).Unlock(Parameters));

            Assert.Contains($"environment variable {name}", e.Message);
            Assert.Equal($"environment variable {name}", e.PassphraseSource);
            Assert.DoesNotContain("hunter2", e.Message);
            Assert.DoesNotContain("hunter2", e.ToString());
        }
        finally
        {
            Environment.SetEnvironmentVariable(name, null);
        }
    }

    [Theory]
    [InlineData("", "")]
    [InlineData("\n", "")]
    [InlineData("\r\n", "")]
    [InlineData("\n\n", "\n")]
    [InlineData(" ", " ")]
    public void A_key_file_loses_exactly_one_trailing_newline(string ending, string kept)
    {
        string path = KeyFile(PassphraseText + ending);

        Assert.Equal(Encoding.UTF8.GetBytes(PassphraseText + kept), Bytes(PassphraseSource.FromKeyFile(path)));
    }

    [Fact]
    public void A_private_key_file_unlocks_the_repository()
    {
        using var key = PassphraseSource.FromKeyFile(KeyFile(PassphraseText + "\n")).Unlock(Parameters);

        Assert.Equal(Parameters.KeyId, key.KeyId);
    }

    [Theory]
    [InlineData(0b110_100_100)] // 0644
    [InlineData(0b110_100_000)] // 0640
    [InlineData(0b110_000_010)] // 0602
    public void A_key_file_readable_by_group_or_others_is_refused_like_ssh_does(int mode)
    {
        if (OperatingSystem.IsWindows()) return; // Unix permissions only
        string path = KeyFile(PassphraseText, (UnixFileMode)mode);

        var e = Assert.Throws<UnauthorizedAccessException>(() => PassphraseSource.FromKeyFile(path).Unlock(Parameters));

        Assert.Contains(path, e.Message);
        Assert.Contains($"chmod 600 {path}", e.Message);
        Assert.Contains("0" + Convert.ToString(mode, 8), e.Message);
        Assert.DoesNotContain(PassphraseText, e.Message);
    }

    [Fact]
    public void A_missing_or_empty_key_file_is_named_in_the_error()
    {
        string missing = Path.Combine(_directory, "no-such-key");
        string empty = KeyFile("\n");

        Assert.Contains(missing, Assert.Throws<FileNotFoundException>(() => Bytes(PassphraseSource.FromKeyFile(missing))).Message);
        Assert.Contains(empty, Assert.Throws<InvalidDataException>(() => Bytes(PassphraseSource.FromKeyFile(empty))).Message);
    }
}
