using System.Security.Cryptography;
using PgBackupTools.Core.Backup;
using PgBackupTools.Core.Errors;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Tests.Streams;

namespace PgBackupTools.Core.Tests.Restore;

/// <summary>
/// The restore's file writers: every byte lands where the tar put it, across piece boundaries and with more files than
/// pieces in flight; modes are PostgreSQL's; each file's SHA-256 is recorded for the backup_manifest check; and a
/// failure (a file that cannot be created, a tar cut short, a cancel) ends the restore with the cause instead of a hang.
/// </summary>
public sealed class DataDirectoryWriterTests : IDisposable
{
    private const int Piece = DataDirectoryWriter.PieceSize;
    private const UnixFileMode Dir = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _temp = new();

    [Fact]
    public void Writes_every_file_whole_across_pieces_and_records_the_checksums_its_backup_manifest_confirms()
    {
        string root = Path.Combine(_temp.Path, "data");
        int[] sizes = [0, 1, Piece - 1, Piece, Piece + 1, 5 * Piece + 123, 8192, 8192, 40960];
        var files = new List<(string Name, byte[] Content)>();
        for (int i = 0; i < 3 * DataDirectoryWriter.PiecesInFlight; i++)
            files.Add(($"base/{i % 3}/{16384 + i}", RandomNumberGenerator.GetBytes(sizes[i % sizes.Length])));
        files.Add(("global/pg_control", RandomNumberGenerator.GetBytes(8192)));

        var checksums = new RestoredFileChecksums("test");
        var manifest = new BackupManifestBuilder();
        using (var writer = new DataDirectoryWriter(checksums, CancellationToken.None))
        {
            writer.CreateDirectory(root, Dir);
            writer.CreateDirectory(Path.Combine(root, "base"), Dir);
            foreach (var (name, content) in files)
            {
                writer.WriteFile(Path.Combine(root, name), name, FileMode0600, new MemoryStream(content), content.Length);
                manifest.AddFile(name, content.Length, DateTimeOffset.UtcNow, SHA256.HashData(content));
            }
            byte[] manifestBytes = manifest.Finish(1, "0/2000028", "0/2000100");
            writer.WriteFile(Path.Combine(root, "backup_manifest"), "backup_manifest", FileMode0600, new MemoryStream(manifestBytes), manifestBytes.Length);
            writer.Complete();
        }

        foreach (var (name, content) in files)
        {
            string path = Path.Combine(root, name);
            Assert.Equal(content, File.ReadAllBytes(path));
            if (!OperatingSystem.IsWindows()) Assert.Equal(FileMode0600, File.GetUnixFileMode(path));
        }
        if (!OperatingSystem.IsWindows()) Assert.Equal(Dir, File.GetUnixFileMode(Path.Combine(root, "base", "1")));
        checksums.Verify(root);

        // Recorded bytes that differ from the manifest's fail the check, by name.
        var stale = new RestoredFileChecksums("test");
        var bytes = File.ReadAllBytes(Path.Combine(root, files[5].Name));
        bytes[Piece + 7] ^= 0x40;
        foreach (var (name, content) in files) stale.Add(name, content.Length, SHA256.HashData(name == files[5].Name ? bytes : content));
        var error = Assert.Throws<PgBackupException>(() => stale.Verify(root));
        Assert.Contains(files[5].Name, error.Message);
    }

    [Fact]
    public async Task A_file_that_cannot_be_created_fails_the_restore_with_its_path_even_while_the_tar_keeps_coming()
    {
        string root = Path.Combine(_temp.Path, "data");
        Directory.CreateDirectory(root);
        File.WriteAllText(Path.Combine(root, "PG_VERSION"), "15\n"); // the writers create new files only

        var run = Task.Run(() =>
        {
            using var writer = new DataDirectoryWriter(null, CancellationToken.None);
            writer.CreateDirectory(root, Dir);
            writer.WriteFile(Path.Combine(root, "PG_VERSION"), "PG_VERSION", FileMode0600, new MemoryStream("15\n"u8.ToArray()), 3);
            // Far more pieces than are in flight: once the writer failed, handing over more must fail too, not block.
            var big = new byte[(DataDirectoryWriter.PiecesInFlight + 8) * Piece];
            for (int i = 0; i < 4; i++) writer.WriteFile(Path.Combine(root, $"big{i}"), $"big{i}", FileMode0600, new MemoryStream(big), big.Length);
            writer.Complete();
        });
        var error = await Assert.ThrowsAsync<IOException>(() => run.WaitAsync(TimeSpan.FromMinutes(2)));
        Assert.Contains(Path.Combine(root, "PG_VERSION"), error.Message);
        Assert.Equal("15\n", File.ReadAllText(Path.Combine(root, "PG_VERSION")));
    }

    [Fact]
    public void A_tar_that_ends_inside_a_file_names_the_file()
    {
        string root = Path.Combine(_temp.Path, "data");
        using var writer = new DataDirectoryWriter(null, CancellationToken.None);
        writer.CreateDirectory(root, Dir);
        var error = Assert.Throws<EndOfStreamException>(() =>
            writer.WriteFile(Path.Combine(root, "base", "1", "1259"), "base/1/1259", FileMode0600, new MemoryStream(new byte[100]), 8192));
        Assert.Contains("base/1/1259", error.Message);
    }

    [Fact]
    public async Task A_cancelled_restore_stops_handing_over_pieces_and_its_threads_end()
    {
        string root = Path.Combine(_temp.Path, "data");
        using var cancel = new CancellationTokenSource();
        var endless = new ThrottledStream(cancel);
        var run = Task.Run(() =>
        {
            using var writer = new DataDirectoryWriter(null, cancel.Token);
            writer.CreateDirectory(root, Dir);
            writer.WriteFile(Path.Combine(root, "huge"), "huge", FileMode0600, endless, 1L << 40);
            writer.Complete();
        });
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => run.WaitAsync(TimeSpan.FromMinutes(2)));
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Zeros forever, cancelling after 64 MiB: more than the pieces in flight, so the reader must be waiting for a free one.</summary>
    private sealed class ThrottledStream(CancellationTokenSource cancel) : Stream
    {
        private long _read;
        public override int Read(byte[] buffer, int offset, int count)
        {
            if ((_read += count) > 64L << 20) cancel.Cancel();
            Array.Clear(buffer, offset, count);
            return count;
        }
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => _read; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
