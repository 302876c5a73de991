using System.Security.Cryptography;
using System.Text;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Repository;
using PgBackupTools.Core.Streams;
using PgBackupTools.Core.Streams.Encryption;
using PgBackupTools.Core.Wal;

namespace PgBackupTools.Core.Tests.Wal;

/// <summary>The WAL archive of an encrypted repository: encrypted bodies, HMAC not SHA-256 in the header, the key enforced.</summary>
[Collection("cluster")]
public sealed class EncryptedWalArchiveTests(ClusterFixture fixture) : IDisposable
{
    private const string Passphrase = "wal passphrase 9c1e d4";
    private readonly TempDirectory _temp = new();
    private string Dir(string name) => Directory.CreateDirectory(Path.Combine(_temp.Path, name)).FullName;
    private string RepoPath => Path.Combine(_temp.Path, "repo");

    private string KeyFilePath(string passphrase)
    {
        string path = Path.Combine(Dir("keys"), Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, passphrase + "\n");
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private async Task<WalArchive> NewEncryptedArchiveAsync()
    {
        var repo = await BackupRepository.OpenAsync(RepoPath, create: true, default, PassphraseSource.FromKeyFile(KeyFilePath(Passphrase)));
        Assert.True(repo.IsEncrypted);
        return new WalArchive(repo, "main");
    }

    private SortedDictionary<string, string> Snapshot(string root) => new(
        Directory.EnumerateFiles(root, "*", SearchOption.AllDirectories)
            .ToDictionary(p => Path.GetRelativePath(root, p), p => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(p)))), StringComparer.Ordinal);

    /// <summary>A 64-byte run of the segment with many distinct bytes: found in the stored object only if it leaked.</summary>
    private static byte[] DistinctiveRun(byte[] segment)
    {
        for (int offset = 8192; offset + 64 <= segment.Length; offset += 64)
        {
            var run = segment.AsSpan(offset, 64);
            if (run.ToArray().Distinct().Count() >= 24) return run.ToArray();
        }
        throw new InvalidOperationException("no distinctive run in the segment");
    }

    [Fact]
    public async Task Push_and_get_round_trip_encrypted_and_the_stored_object_holds_neither_the_plaintext_nor_its_SHA256()
    {
        using var archive = new Disposer(await NewEncryptedArchiveAsync());
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var raw = File.ReadAllBytes(segment);
        // Uncompressed, so the only thing that can hide the plaintext is the encryption.
        var pushed = await archive.Wal.PushAsync(segment, new WalPushOptions { Compression = CompressionKind.None }, OperationContext.None);
        Assert.True(pushed.Encrypted);
        Assert.Equal("", pushed.Sha256);

        var stored = File.ReadAllBytes(archive.Wal.Repository.Store.TryGetLocalPath(pushed.Key)!);
        byte[] sha = SHA256.HashData(raw);
        Assert.Equal(-1, stored.AsSpan().IndexOf(DistinctiveRun(raw)));
        Assert.Equal(-1, stored.AsSpan().IndexOf(sha));
        Assert.Equal(-1, Encoding.ASCII.GetString(stored).IndexOf(Convert.ToHexString(sha), StringComparison.OrdinalIgnoreCase));
        var header = WalObjectHeader.Parse(stored, pushed.Key);
        Assert.True(header.Encrypted);
        Assert.Equal(WalObjectHeader.EncryptedFlag, stored[9]);
        Assert.Equal(raw.Length, header.RawSize);
        // The digest is the HMAC of the doc: HMAC-SHA256(HKDF(master, "pgbt wal hmac v1"), raw).
        using (var hmac = archive.Wal.NewDigest()) { hmac.AppendData(raw); Assert.Equal(hmac.GetHashAndReset(), header.Digest); }
        Assert.Equal("PGBT-ENC"u8.ToArray(), stored[56..64]);
        Assert.Equal(archive.Wal.Repository.Key!.KeyId, Convert.ToHexString(stored, 56 + 16, 8).ToLowerInvariant());

        var dest = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        var fetched = await archive.Wal.GetAsync(pushed.Name, dest, new WalGetOptions(), OperationContext.None);
        Assert.True(fetched!.Encrypted);
        Assert.Equal(raw, File.ReadAllBytes(dest));
    }

    [Fact]
    public async Task A_repush_is_settled_by_comparing_HMACs_identical_succeeds_different_is_refused()
    {
        using var archive = new Disposer(await NewEncryptedArchiveAsync());
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0];
        var first = await archive.Wal.PushAsync(segment, new WalPushOptions(), OperationContext.None);
        string stored = archive.Wal.Repository.Store.TryGetLocalPath(first.Key)!;
        var before = File.ReadAllBytes(stored);

        Assert.True((await archive.Wal.PushAsync(segment, new WalPushOptions(), OperationContext.None)).AlreadyArchived);

        var bytes = File.ReadAllBytes(segment);
        bytes[^100] ^= 0xFF;
        var changed = Path.Combine(Dir("other"), Path.GetFileName(segment));
        File.WriteAllBytes(changed, bytes);
        var conflict = await Assert.ThrowsAsync<WalConflictException>(() => archive.Wal.PushAsync(changed, new WalPushOptions(), OperationContext.None));
        Assert.Contains("HMAC-SHA256", conflict.Message);
        Assert.Equal(before, File.ReadAllBytes(stored));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(stored)!));
    }

    [Fact]
    public async Task A_wrong_or_missing_passphrase_is_refused_before_anything_is_read_or_written()
    {
        using (var archive = new Disposer(await NewEncryptedArchiveAsync()))
            await archive.Wal.PushAsync(WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0], new WalPushOptions(), OperationContext.None);
        var segment = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src2"), 1)[0];
        var before = Snapshot(RepoPath);

        await Assert.ThrowsAsync<WrongPassphraseException>(() =>
            WalArchive.OpenAsync(RepoPath, "main", default, PassphraseSource.FromKeyFile(KeyFilePath("not the passphrase"))));
        if (Environment.GetEnvironmentVariable(RepositoryPassphrase.DefaultVariable) is null)
        {
            var none = await Assert.ThrowsAsync<PgBackupException>(() => WalArchive.OpenAsync(RepoPath, "main", default));
            Assert.Contains(RepositoryPassphrase.DefaultVariable, none.Message);
        }
        // An archive object made around a repository opened without its key (listing) refuses to push or get.
        using var locked = await BackupRepository.OpenAsync(RepoPath, create: false, default, keyRequired: false);
        var keyless = new WalArchive(locked, "main");
        if (locked.Key is null)
        {
            await Assert.ThrowsAsync<PgBackupException>(() => keyless.PushAsync(segment, new WalPushOptions(), OperationContext.None));
            await Assert.ThrowsAsync<PgBackupException>(() => keyless.GetAsync(Path.GetFileName(segment), Path.Combine(Dir("dst"), "X"), new WalGetOptions(), OperationContext.None));
        }

        // Through the entry point: a wrong key file or variable exits non-zero and writes nothing.
        string wrongFile = KeyFilePath("not the passphrase");
        var (code, stderr) = WalTestSegments.RunEntryPointWith(null, "push", segment, "--repo", RepoPath, "--passphrase-file", wrongFile);
        Assert.Equal(2, code);
        Assert.Contains("does not match", stderr);
        (code, _) = WalTestSegments.RunEntryPointWith("not the passphrase", "push", segment, "--repo", RepoPath);
        Assert.Equal(2, code);
        (code, stderr) = WalTestSegments.RunEntryPointWith(null, "push", segment, "--repo", RepoPath);
        Assert.Equal(2, code);
        Assert.Contains(RepositoryPassphrase.DefaultVariable, stderr);
        var dest = Path.Combine(Dir("dst2"), "RECOVERYXLOG");
        // A get that cannot unlock the archive must stop recovery (126), not end it early as if the archive ended here.
        (code, _) = WalTestSegments.RunEntryPointWith(null, "get", Path.GetFileName(segment), dest, "--repo", RepoPath, "--passphrase-file", wrongFile);
        Assert.Equal(126, code);
        (code, _) = WalTestSegments.RunEntryPointWith(null, "get", Path.GetFileName(segment), dest, "--repo", RepoPath);
        Assert.Equal(126, code);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(dest)!));
        Assert.Equal(before, Snapshot(RepoPath));

        // Never as an argument value: refused as usage, and the value is not echoed.
        (code, stderr) = WalTestSegments.RunEntryPointWith(null, "push", segment, "--repo", RepoPath, "--passphrase=" + Passphrase);
        Assert.Equal(64, code);
        Assert.DoesNotContain(Passphrase, stderr);
        Assert.Contains("--passphrase-file", stderr);
    }

    [Fact]
    public async Task A_flipped_byte_in_the_encrypted_body_is_damaged_and_creates_no_destination()
    {
        string name;
        string stored;
        using (var archive = new Disposer(await NewEncryptedArchiveAsync()))
        {
            var pushed = await archive.Wal.PushAsync(WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 1)[0], new WalPushOptions(), OperationContext.None);
            name = pushed.Name;
            stored = archive.Wal.Repository.Store.TryGetLocalPath(pushed.Key)!;
        }
        var bytes = File.ReadAllBytes(stored);
        bytes[56 + 56 + (bytes.Length - 112) / 2] ^= 0x01; // one bit inside a chunk: its GCM tag fails
        File.WriteAllBytes(stored, bytes);

        var dest = Path.Combine(Dir("dst"), "RECOVERYXLOG");
        using (var archive = new Disposer(await WalArchive.OpenAsync(RepoPath, "main", default, PassphraseSource.FromKeyFile(KeyFilePath(Passphrase)))))
        {
            var e = await Assert.ThrowsAsync<WalChecksumException>(() => archive.Wal.GetAsync(name, dest, new WalGetOptions(), OperationContext.None));
            Assert.Equal(FailureKind.InvalidData, e.Kind);
            Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(dest)!));
        }
        var (code, stderr) = WalTestSegments.RunEntryPointWith(Passphrase, "get", name, dest, "--repo", RepoPath);
        Assert.Equal(126, code);
        Assert.Contains("damaged", stderr);
        Assert.Empty(Directory.GetFiles(Path.GetDirectoryName(dest)!));
    }

    [Fact]
    public async Task Pgbt_wal_round_trips_with_the_environment_variable_and_with_a_key_file()
    {
        using (var archive = new Disposer(await NewEncryptedArchiveAsync())) { } // creates the encrypted repository
        var segments = WalTestSegments.CopyCompleted(fixture.Cluster, Dir("src"), 2);
        string keyFile = KeyFilePath(Passphrase);
        string pgWal = Dir("pg_wal");

        var (code, stderr) = WalTestSegments.RunEntryPointWith(Passphrase, "push", segments[0], "--repo", RepoPath);
        Assert.True(code == 0, stderr);
        (code, stderr) = WalTestSegments.RunEntryPointWith(null, "push", segments[1], "--repo", RepoPath, "--passphrase-file", keyFile);
        Assert.True(code == 0, stderr);

        // Fetched back by the other route each, with prefetch: the spool holds verified plaintext only.
        (code, stderr) = WalTestSegments.RunEntryPointWith(null, "get", Path.GetFileName(segments[0]), Path.Combine(pgWal, "RECOVERYXLOG"), "--repo", RepoPath, "--passphrase-file", keyFile);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(segments[0]), File.ReadAllBytes(Path.Combine(pgWal, "RECOVERYXLOG")));
        (code, stderr) = WalTestSegments.RunEntryPointWith(Passphrase, "get", Path.GetFileName(segments[1]), Path.Combine(pgWal, "RECOVERYXLOG"), "--repo", RepoPath);
        Assert.True(code == 0, stderr);
        Assert.Equal(File.ReadAllBytes(segments[1]), File.ReadAllBytes(Path.Combine(pgWal, "RECOVERYXLOG")));

        // A key file readable by others is refused (like ssh keys).
        File.SetUnixFileMode(keyFile, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherRead);
        (code, stderr) = WalTestSegments.RunEntryPointWith(null, "push", segments[1], "--repo", RepoPath, "--passphrase-file", keyFile);
        Assert.Equal(2, code);
        Assert.Contains("chmod 600", stderr);
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Disposes the archive's repository (zeroes its key) at the end of a using block.</summary>
    [Fact]
    public async Task A_byte_flipped_anywhere_in_an_encrypted_history_object_never_hands_PostgreSQL_a_wrong_byte()
    {
        using var archive = new Disposer(await NewEncryptedArchiveAsync());
        var history = Path.Combine(Dir("src"), "00000002.history");
        File.WriteAllText(history, "1\t0/3000000\tno recovery target specified\n");
        var pushed = await archive.Wal.PushAsync(history, new WalPushOptions(), OperationContext.None);
        string stored = archive.Wal.Repository.Store.TryGetLocalPath(pushed.Key)!;
        byte[] original = File.ReadAllBytes(stored), expected = File.ReadAllBytes(history);
        string dst = Dir("dst"), dest = Path.Combine(dst, "RECOVERYHISTORY");

        // Every byte: the object header (HMAC, sizes), the encryption header (key id, nonce), the chunk and its tag.
        for (int i = 0; i < original.Length; i++)
        {
            var damaged = (byte[])original.Clone();
            damaged[i] ^= 0xFF;
            File.WriteAllBytes(stored, damaged);
            try
            {
                Assert.NotNull(await archive.Wal.GetAsync("00000002.history", dest, new WalGetOptions(), OperationContext.None));
                Assert.Equal(expected, File.ReadAllBytes(dest));
                File.Delete(dest);
            }
            catch (PgBackupException e)
            {
                Assert.True(e.Kind == FailureKind.InvalidData, $"byte {i}: {e.Kind} {e.Message}");
                Assert.Empty(Directory.GetFiles(dst));
            }
        }
    }

    private sealed class Disposer(WalArchive wal) : IDisposable
    {
        public WalArchive Wal { get; } = wal;
        public void Dispose() => Wal.Repository.Dispose();
    }
}
