<#
.SYNOPSIS
    Writes the module's MAML help (en-US/PgBackupTools.dll-Help.xml) from one source: module/help/<Cmdlet>.psd1
    for the words, the compiled cmdlets for the syntax. Fails when a cmdlet or a parameter has no help, or a
    cmdlet has fewer than two examples.
#>
param(
    [Parameter(Mandatory)] [string]$ModuleManifest,
    [Parameter(Mandatory)] [string]$HelpSource,
    [Parameter(Mandatory)] [string]$OutFile
)
$ErrorActionPreference = 'Stop'
Import-Module $ModuleManifest -Force
$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
$problems = [System.Collections.Generic.List[string]]::new()
$shared = Import-PowerShellDataFile (Join-Path $HelpSource '_Shared.psd1')
function X([string]$text) { [System.Security.SecurityElement]::Escape($text) }
function TypeName([type]$type) { $inner = [Nullable]::GetUnderlyingType($type); if ($inner) { $inner.Name } else { $type.Name } }
function Paras([string]$text) { ($text -split "`r?`n`r?`n" | ForEach-Object { "<maml:para>$(X ($_ -replace "`r?`n", ' '))</maml:para>" }) -join '' }

$sb = [System.Text.StringBuilder]::new()
[void]$sb.AppendLine('<?xml version="1.0" encoding="utf-8"?>')
[void]$sb.AppendLine('<helpItems schema="maml" xmlns="http://msh">')
foreach ($cmd in Get-Command -Module PgBackupTools -CommandType Cmdlet | Sort-Object Name) {
    $sourceFile = Join-Path $HelpSource "$($cmd.Name).psd1"
    if (-not (Test-Path $sourceFile)) { $problems.Add("$($cmd.Name): no help source $sourceFile"); continue }
    $help = Import-PowerShellDataFile $sourceFile
    foreach ($key in $shared.Keys) { if (-not $help.Parameters.ContainsKey($key)) { $help.Parameters[$key] = $shared[$key] } }
    if (@($help.Examples).Count -lt 2) { $problems.Add("$($cmd.Name): fewer than two examples") }
    if (-not (@($help.Examples).Code -match '\|')) { $problems.Add("$($cmd.Name): no example with a pipeline") }
    $params = $cmd.Parameters.Values | Where-Object { $common -notcontains $_.Name }
    foreach ($p in $params) { if (-not $help.Parameters[$p.Name]) { $problems.Add("$($cmd.Name) -$($p.Name): no help") } }

    [void]$sb.AppendLine('<command:command xmlns:maml="http://schemas.microsoft.com/maml/2004/10" xmlns:command="http://schemas.microsoft.com/maml/dev/command/2004/10" xmlns:dev="http://schemas.microsoft.com/maml/dev/2004/10">')
    [void]$sb.AppendLine("<command:details><command:name>$($cmd.Name)</command:name><command:verb>$($cmd.Verb)</command:verb><command:noun>$($cmd.Noun)</command:noun><maml:description>$(Paras $help.Synopsis)</maml:description></command:details>")
    [void]$sb.AppendLine("<maml:description>$(Paras $help.Description)</maml:description>")
    [void]$sb.AppendLine('<command:syntax>')
    foreach ($set in $cmd.ParameterSets) {
        [void]$sb.Append("<command:syntaxItem><maml:name>$($cmd.Name)</maml:name>")
        foreach ($p in $set.Parameters | Where-Object { $common -notcontains $_.Name }) {
            $position = if ($p.Position -ge 0) { $p.Position } else { 'named' }
            [void]$sb.Append("<command:parameter required=`"$($p.IsMandatory.ToString().ToLower())`" position=`"$position`"><maml:name>$($p.Name)</maml:name>")
            if ($p.ParameterType -ne [switch]) { [void]$sb.Append("<command:parameterValue required=`"true`">$(X (TypeName $p.ParameterType))</command:parameterValue>") }
            [void]$sb.Append('</command:parameter>')
        }
        [void]$sb.AppendLine('</command:syntaxItem>')
    }
    [void]$sb.AppendLine('</command:syntax><command:parameters>')
    foreach ($p in $params) {
        $attr = $p.ParameterSets.Values | Select-Object -First 1
        $pipeline = @(if ($attr.ValueFromPipeline) { 'ByValue' }; if ($attr.ValueFromPipelineByPropertyName) { 'ByPropertyName' })
        $pipelineText = if ($pipeline) { "True ($($pipeline -join ', '))" } else { 'False' }
        $position = if ($attr.Position -ge 0) { $attr.Position } else { 'named' }
        $aliases = if ($p.Aliases.Count) { $p.Aliases -join ', ' } else { 'none' }
        [void]$sb.Append("<command:parameter required=`"$($attr.IsMandatory.ToString().ToLower())`" globbing=`"false`" pipelineInput=`"$pipelineText`" position=`"$position`" aliases=`"$(X $aliases)`"><maml:name>$($p.Name)</maml:name>")
        [void]$sb.Append("<maml:description>$(Paras $help.Parameters[$p.Name])</maml:description>")
        if ($p.ParameterType -ne [switch]) { [void]$sb.Append("<command:parameterValue required=`"true`">$(X (TypeName $p.ParameterType))</command:parameterValue>") }
        [void]$sb.AppendLine("<dev:type><maml:name>$(X $p.ParameterType.FullName)</maml:name></dev:type></command:parameter>")
    }
    [void]$sb.AppendLine('</command:parameters><command:returnValues>')
    foreach ($t in $cmd.OutputType) { [void]$sb.Append("<command:returnValue><dev:type><maml:name>$(X $t.Name)</maml:name></dev:type></command:returnValue>") }
    [void]$sb.AppendLine('</command:returnValues><command:examples>')
    $i = 0
    foreach ($ex in $help.Examples) {
        $i++
        [void]$sb.AppendLine("<command:example><maml:title>-------------------------- Example $i --------------------------</maml:title><dev:code>$(X $ex.Code)</dev:code><dev:remarks>$(Paras $ex.Remarks)</dev:remarks></command:example>")
    }
    [void]$sb.AppendLine('</command:examples><command:relatedLinks><maml:navigationLink><maml:linkText>about_PgBackupTools</maml:linkText></maml:navigationLink></command:relatedLinks></command:command>')
}
[void]$sb.AppendLine('</helpItems>')
if ($problems.Count) { throw "Help is incomplete:`n  " + ($problems -join "`n  ") }
New-Item -ItemType Directory -Force (Split-Path $OutFile) | Out-Null
[System.IO.File]::WriteAllText($OutFile, $sb.ToString())
