namespace PgBackupTools.Core.Streams;

/// <summary>
/// A slice of a parallel compressor's input and, once <see cref="ParallelBlock.Done"/>, its compressed form, which
/// the compressor writes out in order (<see cref="ParallelBlockCompressor{TBlock}"/>).
/// </summary>
internal abstract class CompressionBlock(int capacity) : ParallelBlock
{
    /// <summary>The uncompressed bytes; the first <see cref="Length"/> are used.</summary>
    public byte[] Input { get; } = GC.AllocateUninitializedArray<byte>(capacity);
    public int Length { get; set; }
    public int Free => Input.Length - Length;

    /// <summary>What to write for this block; valid once <see cref="ParallelBlock.Done"/> completed successfully.</summary>
    public ReadOnlyMemory<byte> Output { get; protected set; }

    public override void Reset()
    {
        base.Reset();
        Length = 0;
        Output = default;
    }
}
