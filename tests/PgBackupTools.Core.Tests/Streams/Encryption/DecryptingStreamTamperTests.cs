using PgBackupTools.Core.Streams.Encryption;
using static PgBackupTools.Core.Tests.Streams.Encryption.EncryptionTestData;

namespace PgBackupTools.Core.Tests.Streams.Encryption;

/// <summary>
/// Every way of damaging or rearranging encrypted data must end in an EncryptedDataException, and
/// the output must hold exactly the plaintext of the chunks before the damaged one, never more.
/// The files here have 4 full chunks of 64 bytes and a final chunk of 10 bytes (chunks 0..4).
/// </summary>
public sealed class DecryptingStreamTamperTests
{
    private const int FullChunks = 4;
    private const int FinalLength = 10;
    private static readonly byte[] Plain = Plaintext(FullChunks * SmallChunk + FinalLength, seed: 42);

    private static byte[] EncryptedFile(EncryptionKey key) => Encrypt(Plain, key);

    private static byte[] PlaintextBefore(int chunk) => Plain[..(chunk * SmallChunk)];

    private static byte[] Chunk(byte[] file, int index) =>
        file[ChunkOffset(index)..Math.Min(ChunkOffset(index + 1), file.Length)];

    private static void AssertFailsAt(byte[] damaged, EncryptionKey key, EncryptedDataReason reason, long? chunk)
    {
        var (output, failure) = DecryptUntilFailure(damaged, key);

        Assert.NotNull(failure);
        Assert.Equal(reason, failure.Reason);
        Assert.Equal(chunk, failure.ChunkIndex);
        Assert.Equal(PlaintextBefore((int)(chunk ?? 0)), output);
    }

    [Fact]
    public void The_undamaged_file_decrypts()
    {
        using var key = NewKey();
        var (output, failure) = DecryptUntilFailure(EncryptedFile(key), key);
        Assert.Null(failure);
        Assert.Equal(Plain, output);
    }

    [Fact]
    public void A_flipped_bit_anywhere_in_the_header_is_refused_before_any_output()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);

        for (int bit = 0; bit < Header * 8; bit++)
        {
            byte[] damaged = (byte[])file.Clone();
            damaged[bit / 8] ^= (byte)(1 << (bit % 8));

            var (output, failure) = DecryptUntilFailure(damaged, key);

            Assert.NotNull(failure);
            Assert.Empty(output);
            EncryptedDataReason expected = (bit / 8) switch
            {
                < 8 => EncryptedDataReason.BadHeader,            // magic
                8 or 9 => EncryptedDataReason.UnsupportedVersion, // version, algorithm
                10 or 11 => EncryptedDataReason.BadHeader,       // reserved
                >= 16 and < 24 => EncryptedDataReason.WrongKey,  // key id
                _ => EncryptedDataReason.AuthenticationFailed,   // chunk size (if in range), file salt
            };
            if (bit / 8 is >= 12 and < 16 && failure.Reason == EncryptedDataReason.BadHeader)
                continue; // a chunk size flipped out of range is refused as a bad header: also fine
            Assert.Equal(expected, failure.Reason);
        }
    }

    [Theory]
    [InlineData(0)]                 // first ciphertext byte
    [InlineData(SmallChunk / 2)]    // middle
    [InlineData(SmallChunk - 1)]    // last ciphertext byte
    [InlineData(SmallChunk)]        // first tag byte
    [InlineData(SmallChunk + Tag - 1)] // last tag byte
    public void A_flipped_bit_in_a_middle_chunk_fails_that_chunk_and_releases_only_the_chunks_before(int offsetInChunk)
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(2) + offsetInChunk] ^= 0x10;

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 2);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(FinalLength - 1)]
    [InlineData(FinalLength)]
    [InlineData(FinalLength + Tag - 1)]
    public void A_flipped_bit_in_the_final_chunk_fails_it(int offsetInChunk)
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(FullChunks) + offsetInChunk] ^= 0x01;

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, FullChunks);
    }

    [Fact]
    public void A_flipped_bit_in_the_first_chunk_releases_nothing()
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(0) + 3] ^= 0x80;

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 0);
    }

    [Theory]
    [InlineData(0, EncryptedDataReason.Truncated, null)]
    [InlineData(1, EncryptedDataReason.Truncated, null)]
    [InlineData(Header - 1, EncryptedDataReason.Truncated, null)]
    [InlineData(Header, EncryptedDataReason.Truncated, 0L)]                      // right after the header
    [InlineData(Header + 1, EncryptedDataReason.Truncated, 0L)]                  // less than a tag
    [InlineData(Header + Tag, EncryptedDataReason.AuthenticationFailed, 0L)]     // looks like an empty final chunk
    [InlineData(Header + SmallChunk + Tag - 1, EncryptedDataReason.AuthenticationFailed, 0L)]
    [InlineData(Header + SmallChunk + Tag, EncryptedDataReason.Truncated, 1L)]   // exactly after chunk 0
    [InlineData(Header + 2 * (SmallChunk + Tag) + 20, EncryptedDataReason.AuthenticationFailed, 2L)]
    [InlineData(Header + FullChunks * (SmallChunk + Tag), EncryptedDataReason.Truncated, 4L)] // final chunk dropped
    public void Truncation_is_detected(int keptBytes, EncryptedDataReason reason, long? chunk)
    {
        using var key = NewKey();
        byte[] truncated = EncryptedFile(key)[..keptBytes];

        AssertFailsAt(truncated, key, reason, chunk);
    }

    [Fact]
    public void Truncation_inside_the_final_chunk_is_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);

        for (int cut = 1; cut <= FinalLength + Tag; cut++)
        {
            var (output, failure) = DecryptUntilFailure(file[..^cut], key);
            Assert.NotNull(failure);
            Assert.Equal(PlaintextBefore(FullChunks), output);
        }
    }

    [Fact]
    public void A_dropped_chunk_is_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);
        byte[] damaged = Concat(file[..ChunkOffset(1)], file[ChunkOffset(2)..]);

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 1);
    }

    [Fact]
    public void Two_swapped_chunks_are_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);
        byte[] damaged = Concat(file[..ChunkOffset(1)], Chunk(file, 2), Chunk(file, 1), file[ChunkOffset(3)..]);

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 1);
    }

    [Fact]
    public void A_chunk_spliced_from_another_file_under_the_same_key_is_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);
        byte[] other = EncryptedFile(key); // same key, same plaintext, same position: only the file differs
        byte[] damaged = Concat(file[..ChunkOffset(2)], Chunk(other, 2), file[ChunkOffset(3)..]);

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 2);
    }

    [Fact]
    public void Another_files_header_on_this_files_chunks_is_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);
        byte[] other = EncryptedFile(key);
        byte[] damaged = Concat(other[..Header], file[Header..]);

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 0);
    }

    [Fact]
    public void A_final_chunk_moved_to_an_earlier_position_is_detected()
    {
        using var key = NewKey();
        byte[] file = EncryptedFile(key);
        byte[] damaged = Concat(file[..ChunkOffset(2)], Chunk(file, FullChunks)); // drop chunks 2 and 3

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, 2);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(Tag)]
    [InlineData(SmallChunk + Tag)]
    public void Data_appended_after_the_final_chunk_is_detected(int appended)
    {
        using var key = NewKey();
        byte[] damaged = Concat(EncryptedFile(key), Plaintext(appended, seed: 7));

        AssertFailsAt(damaged, key, EncryptedDataReason.AuthenticationFailed, FullChunks);
    }

    [Fact]
    public void Another_files_final_chunk_appended_after_an_empty_final_chunk_is_detected()
    {
        using var key = NewKey();
        byte[] exact = Encrypt(Plaintext(2 * SmallChunk), key); // chunks 0, 1 full; chunk 2 empty final
        byte[] damaged = Concat(exact, exact[^Tag..]);

        var (output, failure) = DecryptUntilFailure(damaged, key);

        Assert.NotNull(failure);
        Assert.Equal(2, failure.ChunkIndex);
        Assert.Equal(Plaintext(2 * SmallChunk), output);
    }

    [Fact]
    public void A_key_from_a_wrong_passphrase_is_refused_at_the_header()
    {
        using var key = NewKey();
        using var wrong = OtherKey();

        var (output, failure) = DecryptUntilFailure(EncryptedFile(key), wrong);

        Assert.NotNull(failure);
        Assert.Equal(EncryptedDataReason.WrongKey, failure.Reason);
        Assert.Contains(key.KeyId, failure.Message);
        Assert.Contains(wrong.KeyId, failure.Message);
        Assert.Empty(output);
    }

    [Fact]
    public void A_key_from_a_wrong_passphrase_fails_the_first_chunk_even_when_the_key_id_is_forged()
    {
        using var key = NewKey();
        using var wrong = OtherKey();
        byte[] forged = EncryptedFile(key);
        Convert.FromHexString(wrong.KeyId).CopyTo(forged, 16);

        AssertFailsAt(forged, wrong, EncryptedDataReason.AuthenticationFailed, 0);
    }

    [Fact]
    public void After_a_failure_every_later_read_fails_too()
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(1) + 5] ^= 1;
        using var decrypting = new DecryptingStream(new MemoryStream(damaged), key);
        var buffer = new byte[SmallChunk];

        Assert.Equal(SmallChunk, decrypting.Read(buffer));
        var first = Assert.Throws<EncryptedDataException>(() => decrypting.Read(buffer));
        var second = Assert.Throws<EncryptedDataException>(() => decrypting.Read(buffer));
        Assert.Equal(first.ChunkIndex, second.ChunkIndex);
        Assert.False(decrypting.IsComplete);
    }

    [Fact]
    public async Task Async_reads_and_CopyTo_detect_damage_the_same_way()
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(3) + 1] ^= 4;

        var copied = new MemoryStream();
        await using (var decrypting = new DecryptingStream(new MemoryStream(damaged), key))
        {
            var e = await Assert.ThrowsAsync<EncryptedDataException>(() => decrypting.CopyToAsync(copied));
            Assert.Equal(3, e.ChunkIndex);
        }
        Assert.Equal(PlaintextBefore(3), copied.ToArray());

        var synced = new MemoryStream();
        using (var decrypting = new DecryptingStream(new MemoryStream(damaged), key))
            Assert.Throws<EncryptedDataException>(() => decrypting.CopyTo(synced));
        Assert.Equal(PlaintextBefore(3), synced.ToArray());

        var read = new MemoryStream();
        await using (var decrypting = new DecryptingStream(new MemoryStream(damaged), key))
        {
            var buffer = new byte[1000];
            await Assert.ThrowsAsync<EncryptedDataException>(async () =>
            {
                int n;
                while ((n = await decrypting.ReadAsync(buffer)) > 0) read.Write(buffer, 0, n);
            });
        }
        Assert.Equal(PlaintextBefore(3), read.ToArray());
    }

    [Fact]
    public void Messages_say_which_chunk_failed_and_why()
    {
        using var key = NewKey();
        byte[] damaged = EncryptedFile(key);
        damaged[ChunkOffset(2)] ^= 1;

        var (_, failure) = DecryptUntilFailure(damaged, key);
        var (_, truncated) = DecryptUntilFailure(EncryptedFile(key)[..ChunkOffset(3)], key);
        var (_, notEncrypted) = DecryptUntilFailure(Plaintext(100), key);

        Assert.Contains("Chunk 2", failure!.Message);
        Assert.Contains("altered", failure.Message);
        Assert.Contains("another file", failure.Message);
        Assert.Contains("truncated", truncated!.Message);
        Assert.Contains("after chunk 2", truncated.Message);
        Assert.Equal(EncryptedDataReason.BadHeader, notEncrypted!.Reason);
        Assert.Contains("not PgBackupTools encrypted data", notEncrypted.Message);
    }

    [Fact]
    public void A_header_from_a_future_format_version_is_refused_clearly()
    {
        using var key = NewKey();
        byte[] future = EncryptedFile(key);
        future[8] = 2;

        var (_, failure) = DecryptUntilFailure(future, key);

        Assert.Equal(EncryptedDataReason.UnsupportedVersion, failure!.Reason);
        Assert.Contains("version 2", failure.Message);
    }

    [Fact]
    public async Task A_cancelled_read_cannot_be_resumed_out_of_step()
    {
        using var key = NewKey();
        var source = new PausingStream(EncryptedFile(key), pauseAt: ChunkOffset(1) + 10);
        await using var decrypting = new DecryptingStream(source, key);
        var buffer = new byte[SmallChunk];
        Assert.Equal(SmallChunk, await decrypting.ReadAsync(buffer));
        using var cancellation = new CancellationTokenSource();

        ValueTask<int> pending = decrypting.ReadAsync(buffer, cancellation.Token);
        cancellation.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await pending);
        await Assert.ThrowsAsync<IOException>(async () => await decrypting.ReadAtLeastAsync(buffer, SmallChunk));
    }

    /// <summary>Serves bytes up to <c>pauseAt</c>, then waits once for cancellation, then serves the rest.</summary>
    private sealed class PausingStream(byte[] data, int pauseAt) : MemoryStream(data)
    {
        private bool _paused;

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            if (!_paused && Position >= pauseAt)
            {
                _paused = true;
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            if (!_paused) buffer = buffer[..(int)Math.Min(buffer.Length, pauseAt - Position)];
            return await base.ReadAsync(buffer, cancellationToken);
        }
    }
}
