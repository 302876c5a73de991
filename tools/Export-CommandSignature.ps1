<#
.SYNOPSIS
    Writes the public signature of every cmdlet (parameter sets, names, types, mandatory, position, pipeline
    binding, aliases) as JSON. tests/Module/CommandSignatures.json is its output at the last intended change;
    a Pester test fails when the live module differs, so a breaking change cannot slip through unnoticed.
.EXAMPLE
    dotnet pwsh ./build.ps1 Build; dotnet pwsh tools/Export-CommandSignature.ps1 > tests/Module/CommandSignatures.json
#>
param([string]$ModuleManifest = (Join-Path $PSScriptRoot '../out/PgBackupTools/PgBackupTools.psd1'))
$ErrorActionPreference = 'Stop'
Import-Module $ModuleManifest -Force
$common = [System.Management.Automation.PSCmdlet]::CommonParameters + [System.Management.Automation.PSCmdlet]::OptionalCommonParameters
$signatures = [ordered]@{}
foreach ($cmd in Get-Command -Module PgBackupTools -CommandType Cmdlet | Sort-Object Name) {
    $sets = [ordered]@{}
    foreach ($set in $cmd.ParameterSets | Sort-Object Name) {
        $sets[$set.Name] = @($set.Parameters | Where-Object { $common -notcontains $_.Name } | Sort-Object Name | ForEach-Object {
            $binding = @(if ($_.ValueFromPipeline) { 'Value' }; if ($_.ValueFromPipelineByPropertyName) { 'PropertyName' })
            [ordered]@{
                Name      = $_.Name
                Type      = $_.ParameterType.FullName -replace ', [^\]]+', ''
                Mandatory = $_.IsMandatory
                Position  = $_.Position
                Pipeline  = $binding -join ','
                Aliases   = @($_.Aliases | Sort-Object) -join ','
            }
        })
    }
    $signatures[$cmd.Name] = [ordered]@{
        OutputType          = @($cmd.OutputType.Name | Sort-Object) -join ','
        SupportsShouldProcess = [bool]($cmd.ImplementingType.GetCustomAttributes([System.Management.Automation.CmdletAttribute], $false).SupportsShouldProcess)
        ParameterSets       = $sets
    }
}
$signatures | ConvertTo-Json -Depth 6
