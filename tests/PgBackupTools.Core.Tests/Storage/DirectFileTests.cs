using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using PgBackupTools.Core.Restore;
using PgBackupTools.Core.Storage;
using PgBackupTools.Core.Streams;

namespace PgBackupTools.Core.Tests.Storage;

/// <summary>
/// The restore's file writes: aligned pieces reach the file without passing through the page cache (checked with
/// mincore), anything unaligned is written buffered, a file system that refuses O_DIRECT (ramfs) gets buffered writes
/// with the same bytes, and an existing file is never opened.
/// </summary>
public sealed unsafe class DirectFileTests : IDisposable
{
    private const UnixFileMode FileMode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly TempDirectory _temp = new();

    [Fact]
    public void Aligned_pieces_bypass_the_page_cache_and_an_unaligned_piece_is_written_buffered()
    {
        if (!OperatingSystem.IsLinux()) return; // O_DIRECT is asked for on Linux only
        using var memory = new HugePageBuffer(2 << 20);
        RandomNumberGenerator.Fill(memory.Memory.Span);
        string path = Path.Combine(_temp.Path, "16384");
        using (var file = DirectFile.Create(path, FileMode0600, direct: true))
        {
            Assert.True(file.IsDirect, "/tmp's file system should take O_DIRECT");
            file.Write(memory.Memory.Span[..(1 << 20)], 0);
            file.Write(memory.Memory.Span[(1 << 20)..], 1 << 20);
            Assert.True(file.IsDirect);
            file.Sync();
        }
        Assert.Equal(memory.Memory.ToArray(), File.ReadAllBytes(path));
        Assert.Equal(FileMode0600, File.GetUnixFileMode(path));

        // ReadAllBytes above went through the page cache; a second file is checked before anything reads it.
        string untouched = Path.Combine(_temp.Path, "16385");
        using (var file = DirectFile.Create(untouched, FileMode0600, direct: true))
        {
            file.Write(memory.Memory.Span, 0);
            file.Sync();
        }
        Assert.Equal(0, ResidentBytes(untouched));

        // An odd length (a config file's tail) cannot go direct: it is written buffered, and the file stays buffered.
        string mixed = Path.Combine(_temp.Path, "mixed");
        byte[] tail = RandomNumberGenerator.GetBytes(100);
        using (var file = DirectFile.Create(mixed, FileMode0600, direct: true))
        {
            file.Write(memory.Memory.Span[..8192], 0);
            file.Write(tail, 8192);
            Assert.False(file.IsDirect);
            file.Sync();
        }
        Assert.Equal([.. memory.Memory.Span[..8192].ToArray(), .. tail], File.ReadAllBytes(mixed));
    }

    [Fact]
    public void A_file_system_that_refuses_O_DIRECT_gets_the_same_bytes_written_buffered()
    {
        if (!OperatingSystem.IsLinux() || !Environment.IsPrivilegedProcess) return; // mounting ramfs needs root, as the cluster tests do
        string mountPoint = Path.Combine(_temp.Path, "ramfs");
        Directory.CreateDirectory(mountPoint);
        Run("mount", "-t", "ramfs", "ramfs", mountPoint);
        try
        {
            // Through the restore's writer: relation-sized files that would go direct anywhere else.
            string root = Path.Combine(mountPoint, "data");
            var files = Enumerable.Range(0, 6).Select(i => ($"base/1/{16384 + i}", RandomNumberGenerator.GetBytes((i + 1) * 8192 * 37))).ToList();
            using (var writer = new DataDirectoryWriter(null, CancellationToken.None))
            {
                writer.CreateDirectory(root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
                foreach (var (name, content) in files)
                    writer.WriteFile(Path.Combine(root, name), name, FileMode0600, new MemoryStream(content), content.Length);
                writer.Complete();
            }
            foreach (var (name, content) in files) Assert.Equal(content, File.ReadAllBytes(Path.Combine(root, name)));

            using var file = DirectFile.Create(Path.Combine(mountPoint, "one"), FileMode0600, direct: true);
            Assert.False(file.IsDirect);
        }
        finally
        {
            Run("umount", mountPoint);
        }
    }

    [Fact]
    public void An_existing_file_is_never_opened_and_the_error_names_it()
    {
        string path = Path.Combine(_temp.Path, "PG_VERSION");
        File.WriteAllText(path, "15\n");
        var error = Assert.ThrowsAny<IOException>(() => DirectFile.Create(path, FileMode0600, direct: true));
        Assert.Contains(path, error.Message);
        Assert.Equal("15\n", File.ReadAllText(path));
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Bytes of <paramref name="path"/> in the page cache, by mincore(2) over a mapping that touches nothing.</summary>
    private static long ResidentBytes(string path)
    {
        const int ProtRead = 1, MapShared = 1;
        long length = new FileInfo(path).Length;
        using var handle = File.OpenHandle(path);
        void* map = mmap(null, (nuint)length, ProtRead, MapShared, (int)handle.DangerousGetHandle(), 0);
        Assert.True(map != (void*)-1, "mmap failed");
        try
        {
            long pages = (length + Environment.SystemPageSize - 1) / Environment.SystemPageSize;
            var vector = new byte[pages];
            fixed (byte* v = vector) Assert.Equal(0, mincore(map, (nuint)length, v));
            return vector.Count(b => (b & 1) != 0) * (long)Environment.SystemPageSize;
        }
        finally
        {
            munmap(map, (nuint)length);
        }
    }

    private static void Run(string command, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(command, arguments) { RedirectStandardError = true })!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{command} {string.Join(' ', arguments)}: {error}");
    }

    [DllImport("libc", SetLastError = true)] private static extern void* mmap(void* address, nuint length, int protection, int flags, int fd, long offset);
    [DllImport("libc")] private static extern int munmap(void* address, nuint length);
    [DllImport("libc", SetLastError = true)] private static extern int mincore(void* address, nuint length, byte* vector);
}
